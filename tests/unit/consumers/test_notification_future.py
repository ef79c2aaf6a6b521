"""Cause times in the future are bounded: suppressed at once, never re-claimed forever."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consumers.notifications.rules import (
    MAX_FUTURE,
    UNKNOWN_RECHECK,
    UNKNOWN_WAIT,
    Claimed,
    decide,
    is_in_future,
)
from schemas.notifications import SuppressionReason

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)
CONTACT = {"status": "registered", "given_name": "Mariam", "email": "m@example.org",
           "phone": "+97455501234", "language": "ar", "consent": {"sms": True, "email": True}}  # fmt: skip
SOON = {"starts_at": NOW + dt.timedelta(hours=3), "status": "published"}


def row(
    cause_time: dt.datetime, template: str = "signup_confirmed", channel: str = "sms"
) -> Claimed:
    return Claimed("ntf-1", "e-1", template, channel, "v-1", {"opportunity_id": "o-1"}, 1,
                   cause_time)  # fmt: skip


def test_the_bound_is_a_tolerance_for_clock_skew() -> None:
    """Up to the bound ahead is skew; a microsecond more is the future."""
    assert not is_in_future(NOW + MAX_FUTURE, NOW, MAX_FUTURE)
    assert is_in_future(NOW + MAX_FUTURE + dt.timedelta(microseconds=1), NOW, MAX_FUTURE)
    assert not is_in_future(NOW - dt.timedelta(days=3), NOW, MAX_FUTURE)


@pytest.mark.parametrize(
    ("contact", "template", "opportunity"),
    [
        (None, "signup_confirmed", None),  # unknown volunteer: used to wait 6 h after the cause
        (CONTACT, "shift_reminder", None),  # unknown opportunity: the same
        (CONTACT, "shift_reminder", SOON),  # everything known: would have been sent
        (CONTACT, "welcome", None),
    ],
)
def test_a_cause_beyond_the_bound_is_suppressed_at_once(
    contact: dict | None, template: str, opportunity: dict | None
) -> None:
    """Whatever else is known, a year-9999 or tomorrow's cause notifies nobody."""
    for ahead in (dt.timedelta(minutes=6), dt.timedelta(days=1), dt.datetime.max.replace(
            tzinfo=dt.UTC) - NOW):  # fmt: skip
        decision = decide(row(NOW + ahead, template), contact, NOW, None, opportunity, "signed_up")
        assert decision.suppress == SuppressionReason.CAUSE_IN_FUTURE
        assert decision.until is None
        assert decision.address is None


def test_the_bound_comes_from_the_caller() -> None:
    """The sender passes TATAWWU_NOTIFY_MAX_FUTURE_S: a tighter bound suppresses sooner."""
    cause = NOW + dt.timedelta(minutes=2)
    assert decide(row(cause), CONTACT, NOW, None).address == "+97455501234"
    tight = decide(row(cause), CONTACT, NOW, None, max_future=dt.timedelta(minutes=1))
    assert tight.suppress == SuppressionReason.CAUSE_IN_FUTURE


@given(
    ahead=st.timedeltas(min_value=-dt.timedelta(days=3), max_value=dt.timedelta(days=3650)),
    template=st.sampled_from(["signup_confirmed", "shift_reminder"]),
)
def test_no_message_is_looked_at_again_forever(ahead: dt.timedelta, template: str) -> None:
    """Following each hold to its end, any cause time ends in a final decision, and soon.

    A volunteer (or opportunity) that never arrives is the longest wait: at most the bound
    plus 6 h of one-minute re-checks.
    """
    cause, now = NOW + ahead, NOW
    contact = None if template == "signup_confirmed" else CONTACT
    most = (MAX_FUTURE + UNKNOWN_WAIT) // UNKNOWN_RECHECK + 2
    for _ in range(most):
        decision = decide(row(cause, template), contact, now, None, None, "signed_up")
        if decision.until is None:
            assert decision.suppress is not None
            return
        assert decision.until > now
        now = decision.until
    pytest.fail(f"still held after {most} re-checks (cause {ahead} ahead)")
