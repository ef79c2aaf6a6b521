"""The redaction processor and the correlation helpers."""

from __future__ import annotations

import structlog
from structlog.testing import capture_logs

from infra.logging import (
    bind_correlation_id,
    correlation_from_headers,
    correlation_headers,
    redact_personal_data,
)


def redact(**event: object) -> dict[str, object]:
    return dict(redact_personal_data(None, "info", dict(event)))


def test_redaction_removes_a_phone_number_and_an_email_from_a_log_line() -> None:
    """Phones and emails inside free text are masked; the rest of the message survives."""
    out = redact(event="sms to +974 5555 1234 failed, copy sent to amna.k@example.qa")
    assert out["event"] == "sms to [phone] failed, copy sent to [email]"


def test_redaction_blanks_personal_keys_whatever_their_value() -> None:
    """Values under personal keys are replaced, even when they do not look personal."""
    out = redact(event="registered", full_name="Amna Al-Kuwari", phone="x", volunteer_id="v-1")
    assert out["full_name"] == "[redacted]"
    assert out["phone"] == "[redacted]"
    assert out["volunteer_id"] == "v-1"


def test_redaction_reaches_into_nested_values() -> None:
    """Dicts and lists bound to a log line are redacted too."""
    out = redact(event="bad", payload={"email": "a@b.qa", "notes": ["call 55551234"]})
    assert out["payload"] == {"email": "[redacted]", "notes": ["call [phone]"]}


def test_redaction_leaves_timestamps_ids_and_versions_alone() -> None:
    """Things that merely contain digits are not mistaken for phone numbers."""
    text = "at 2026-11-29T04:46:12Z id 88d0f64cc1f541d4 v1.2.3 partition 3"
    assert redact(event=text)["event"] == text


def test_configured_pipeline_redacts_before_rendering() -> None:
    """A real structlog logger with the processor in its chain never emits the email."""
    with capture_logs(processors=[redact_personal_data]) as logs:
        structlog.get_logger().info("welcome sent", recipient="x@y.qa", note="to x@y.qa")
    assert logs[0]["recipient"] == "[redacted]"
    assert logs[0]["note"] == "to [email]"


def test_correlation_id_travels_through_kafka_headers() -> None:
    """The id bound for a request becomes a header and is read back from it."""
    cid = bind_correlation_id("req-42")
    headers = correlation_headers()
    assert headers == [("correlation_id", b"req-42")]
    assert correlation_from_headers(headers) == cid
    assert correlation_from_headers([("other", b"x")]) is None
