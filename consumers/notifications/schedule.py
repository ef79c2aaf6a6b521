"""When a message about one sign-up goes: its window before the shift (pure, no I/O).

Every message about a volunteer's place on an opportunity is looked at again when due
and goes now (`send`), later (`until`) or never (`suppress`), from the opportunity and
the sign-up *as they stand then*: a changed start time (`opportunity.updated`)
reschedules them without touching the ledger beyond a re-look (`changes.py`).

| template | window | channels |
|---|---|---|
| `shift_reminder` | from 24 h before the start until 2 h before (then the 2 h one covers it) | SMS, email |
| `shift_reminder_2h` | from 2 h before until the start | SMS |
| `attendance_confirmation` | from the confirmation lead (48 h) before until the release lead (12 h) before | SMS |
| `waitlist_promoted`, `opportunity_changed` | at once, until the start | SMS, email |

Each is suppressed when the sign-up was withdrawn (`withdrawn`), the opportunity
cancelled (`cancelled`) or its window is over (`too_late`). An opportunity still
unknown waits (looked at again every minute) up to 6 h after the cause, then
`unknown_opportunity`. A sign-up made inside a window is told at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

REMINDER = "shift_reminder"
REMINDER_2H = "shift_reminder_2h"
CONFIRMATION = "attendance_confirmation"
PROMOTED = "waitlist_promoted"
CHANGED = "opportunity_changed"
ALERT = "opportunity_alert"
REMINDER_LEAD = dt.timedelta(hours=24)
REMINDER_2H_LEAD = dt.timedelta(hours=2)
UNKNOWN_WAIT = dt.timedelta(hours=6)
UNKNOWN_RECHECK = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Leads:
    """The configurable leads: when confirmations are asked and unanswered places released."""

    confirmation: dt.timedelta = dt.timedelta(hours=48)
    release: dt.timedelta = dt.timedelta(hours=12)

    @classmethod
    def of(cls, settings: Any) -> Leads:
        """From the settings (`notify_confirmation_lead_h`, `notify_release_lead_h`)."""
        return cls(
            dt.timedelta(hours=settings.notify_confirmation_lead_h),
            dt.timedelta(hours=settings.notify_release_lead_h),
        )


def window(template: str, leads: Leads) -> tuple[dt.timedelta | None, dt.timedelta]:
    """(opens, closes) before the start: None opens at once; closes at that much before."""
    if template == REMINDER:
        return REMINDER_LEAD, REMINDER_2H_LEAD
    if template == REMINDER_2H:
        return REMINDER_2H_LEAD, dt.timedelta(0)
    if template == CONFIRMATION:
        return leads.confirmation, leads.release
    return None, dt.timedelta(0)


SCHEDULED = frozenset({REMINDER, REMINDER_2H, CONFIRMATION, PROMOTED, CHANGED})
"""Templates about one sign-up, timed and checked here."""


@dataclass(frozen=True)
class Timing:
    """When a due message goes: now (`send`), later (`until`), or never (`suppress`)."""

    send: bool = False
    until: dt.datetime | None = None
    suppress: str | None = None  # a SuppressionReason value


def timing(
    template: str,
    now: dt.datetime,
    cause_time: dt.datetime,
    starts_at: dt.datetime | None,
    opportunity_status: str | None,
    signup_status: str | None,
    leads: Leads | None = None,
) -> Timing:
    """The rules above, for a message about one sign-up due to be looked at `now`."""
    if opportunity_status in (None, "unknown") or starts_at is None:
        if now - cause_time > UNKNOWN_WAIT:
            return Timing(suppress="unknown_opportunity")
        return Timing(until=now + UNKNOWN_RECHECK)
    if opportunity_status == "cancelled":
        return Timing(suppress="cancelled")
    if signup_status != "signed_up":
        return Timing(suppress="withdrawn")
    opens, closes = window(template, leads or Leads())
    if starts_at - closes <= now:
        return Timing(suppress="too_late")
    if opens is not None and starts_at - opens > now:
        return Timing(until=starts_at - opens)
    return Timing(send=True)
