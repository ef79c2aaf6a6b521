"""The operator view masks recipients: enough to tell messages apart, not to contact anyone."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from tatawwu.cli_sinks import mask_email, mask_phone, sinks_app


def test_a_phone_keeps_its_country_code_and_last_four_digits() -> None:
    """+974 5555 1234 shows as +974****1234, whatever the spacing."""
    assert mask_phone("+97455551234") == "+974****1234"
    assert mask_phone("+974 5555 1234") == "+974****1234"


def test_a_short_or_missing_phone_shows_nothing_of_it() -> None:
    """Too short to mask safely: only stars; nothing: empty."""
    assert mask_phone("+9741234") == "****"
    assert mask_phone(None) == ""
    assert mask_phone("") == ""


def test_an_email_keeps_its_first_letter_and_domain() -> None:
    """aisha@example.org shows as a***@example.org; an Arabic local part works alike."""
    assert mask_email("aisha@example.org") == "a***@example.org"
    assert mask_email("متطوع@example.org") == "م***@example.org"


def test_something_that_is_not_an_address_is_fully_masked() -> None:
    """No @, or an empty side: stars only; nothing: empty."""
    assert mask_email("aisha") == "***"
    assert mask_email("@example.org") == "***"
    assert mask_email(None) == ""


def test_sinks_show_prints_masked_recipients_only(tmp_path: Path) -> None:
    """`tatawwu sinks show` lists both files with masked recipients and no SMS text."""
    email = {"received_at": "2026-01-01T10:00:00+00:00", "rcpt_tos": ["aisha@example.org"],
             "subject": "Welcome", "headers": {"content-language": "en"}}  # fmt: skip
    sms = {"received_at": "2026-01-01T10:00:01+00:00", "id": "sms-1", "to": "+97455551234",
           "body": "Hello Aisha", "sender": None, "idempotency_key": "k"}  # fmt: skip
    (tmp_path / "smtp.jsonl").write_bytes(orjson.dumps(email) + b"\n")
    (tmp_path / "sms.jsonl").write_bytes(orjson.dumps(sms) + b"\n")

    result = CliRunner().invoke(sinks_app, ["show", "--dir", str(tmp_path)], terminal_width=200)

    assert result.exit_code == 0, result.output
    assert "a***@example.org" in result.output
    assert "+974****1234" in result.output
    assert "aisha@" not in result.output
    assert "55551234" not in result.output
    assert "Hello Aisha" not in result.output
