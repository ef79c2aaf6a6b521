"""Signed keyset cursors: what the read API issues comes back intact, anything else is refused."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from structlog.testing import capture_logs

from consumers.api import cursor

CURSORS = cursor.Cursors(b"unit-test secret, 32 bytes long!")
FILTERS = {"municipality": "doha", "org_id": None, "status": None}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@given(
    key=st.dates().map(lambda d: d.isoformat()),
    row_id=st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}", fullmatch=True),
)
def test_a_genuine_cursor_round_trips(key: str, row_id: str) -> None:
    """Any date key and id the API can issue decode to the same position."""
    token = CURSORS.encode("-starts_on", FILTERS, key, row_id)
    assert CURSORS.decode(token, "-starts_on", FILTERS, "date") == cursor.Position(key, row_id)


@given(st.data())
def test_changing_any_one_character_is_refused(data: st.DataObject) -> None:
    """Every position of the cursor is covered: body, separator and MAC."""
    token = CURSORS.encode("fill_rate", FILTERS, "0.4211", "cmp-0042")
    at = data.draw(st.integers(0, len(token) - 1))
    other = data.draw(st.sampled_from("AQgw_-.=x9").filter(lambda c: c != token[at]))
    with pytest.raises(cursor.BadCursor):
        CURSORS.decode(token[:at] + other + token[at + 1 :], "fill_rate", FILTERS, "numeric")


@given(st.text(max_size=2000))
def test_arbitrary_text_is_refused_with_bad_cursor_only(text: str) -> None:
    """Nothing a client sends raises anything but BadCursor (the 400 problem)."""
    with pytest.raises(cursor.BadCursor):
        CURSORS.decode(text, "-starts_on", FILTERS, "date")


def test_a_cursor_of_another_secret_is_refused() -> None:
    """After a restart without a configured secret, or from another worker: a clear 400."""
    token = cursor.Cursors(b"another server's secret........").encode(
        "-starts_on", FILTERS, "2026-01-01", "cmp-1"
    )
    with pytest.raises(cursor.BadCursor, match="signature does not match"):
        CURSORS.decode(token, "-starts_on", FILTERS, "date")


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        (5, "date"), (None, "date"), ({"a": 1}, "date"), ([1], "date"), ("not-a-date", "date"),
        ("2026-02-30", "date"), ("0000-01-01", "date"), ("2026-01-01'; drop table x", "date"),
        ("NaN", "numeric"), ("Infinity", "numeric"), ("1e999999", "numeric"), ("abc", "numeric"),
        (0.5, "numeric"), ("a\x00b", "text"), ("x" * 300, "text"), (True, "text"),
    ],
)  # fmt: skip
def test_a_signed_key_postgres_cannot_take_is_still_refused(key: object, kind: str) -> None:
    """Defence in depth: even with the secret, a key of the wrong type never reaches SQL."""
    body = orjson.dumps(
        {"v": 2, "s": "s", "f": cursor.fingerprint("s", {}), "k": key, "i": "cmp-1"}
    )
    token = f"{b64(body)}.{b64(CURSORS._mac(body))}"
    with pytest.raises(cursor.BadCursor, match=f"not a valid {kind} key"):
        CURSORS.decode(token, "s", {}, kind)  # type: ignore[arg-type]


def test_keys_the_api_issues_are_accepted() -> None:
    """The null stand-ins and float spellings of fill rates pass the type check."""
    for key, kind in [("0001-01-01", "date"), ("-1", "numeric"), ("0.0001", "numeric"),
                      ("1e-05", "numeric"), ("1.0", "numeric"), ("org-1", "text")]:  # fmt: skip
        token = CURSORS.encode("s", {}, key, "id-1")
        assert CURSORS.decode(token, "s", {}, kind).key == key  # type: ignore[arg-type]


def test_without_a_secret_one_random_key_per_process_is_warned_about_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Unset (or empty): the same random signer each time, and one warning line."""
    monkeypatch.setattr(cursor, "_ephemeral", None)
    with capture_logs() as logs:
        first, second = cursor.signer(None), cursor.signer(SecretStr(""))
    assert first is second
    assert [e["event"] for e in logs] == ["cursor_secret_unset"]
    assert logs[0]["log_level"] == "warning"
    token = first.encode("s", {}, "k", "i")
    with pytest.raises(cursor.BadCursor):  # a configured secret does not read it
        cursor.signer(SecretStr("x" * 32)).decode(token, "s", {})


def test_a_configured_secret_signs_the_same_in_every_process() -> None:
    """Two signers of the same secret (two workers, or after a restart) agree."""
    token = cursor.signer(SecretStr("s" * 32)).encode("s", {}, "k", "i")
    assert cursor.signer(SecretStr("s" * 32)).decode(token, "s", {}).id == "i"


def test_a_short_secret_is_refused_without_echoing_it() -> None:
    """Fail at start-up rather than sign with a guessable key; the value is not shown."""
    with pytest.raises(ValueError, match="at least 16") as refused:
        cursor.signer(SecretStr("hunter2"))
    assert "hunter2" not in str(refused.value)
