"""Provider feedback as `notification.*` events: one stable event per feedback row (pure)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from consumers.notifications.feedback import feedback_event
from schemas.decode import decode_event, encode_event

AT = dt.datetime(2026, 11, 30, 4, 0, tzinfo=dt.UTC)


def _row(outcome: str, **extra: Any) -> dict[str, Any]:
    return {"notification_id": "ntf-1", "volunteer_id": "v-1", "template": "welcome",
            "channel": "email", "cause_event_id": "evt-1", "outcome": outcome,
            "permanent": True, "reason": None, "attempts": 2, "received_at": AT, **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("outcome", "extra", "expected"),
    [
        ("delivered", {}, {}),
        ("bounced", {"reason": "550 5.1.1 no such user"},
         {"permanent": True, "reason": "550 5.1.1 no such user"}),
        ("failed", {"channel": "sms", "reason": "30003 unreachable"},
         {"error": "30003 unreachable", "attempts": 2}),
    ],
)  # fmt: skip
def test_each_outcome_becomes_its_event_from_the_platform(
    outcome: str, extra: dict[str, Any], expected: dict[str, Any]
) -> None:
    """Delivered, bounced and failed map to their types; the event survives the wire."""
    event = feedback_event(_row(outcome, **extra))
    assert event.type == f"notification.{outcome}"
    assert event.id == f"ntf-1.receipt.{outcome}"  # stable: a re-publish is deduplicated
    assert (event.source, event.subject, event.time) == ("platform/notifications", "v-1", AT)
    for name, value in expected.items():
        assert getattr(event.data, name) == value
    assert decode_event(encode_event(event)) == event


def test_a_reason_with_personal_data_or_newlines_is_cleaned() -> None:
    """A provider's reason naming the address is redacted and kept on one line."""
    event = feedback_event(_row("bounced", reason="550 user\naisha@example.org unknown"))
    assert "aisha@example.org" not in event.data.reason
    assert "\n" not in event.data.reason
