"""What to send for which event, and when: pure rules, unit-tested without I/O.

- Triggers: `volunteer.registered` -> `welcome` (email, SMS); `volunteer.signed_up` ->
  `signup_confirmed` (email, SMS) and `shift_reminder` (SMS, email);
  `volunteer.signup_withdrawn` -> `signup_withdrawn` (email); `volunteer.hours_verified`
  -> `hours_thanks` (email, SMS). Other events notify nobody.
- A shift reminder waits until 24 h before the opportunity starts (sent at once when the
  sign-up comes later than that). When it falls due it is suppressed if the sign-up was
  withdrawn meanwhile, the opportunity cancelled or already begun, or the opportunity
  still unknown 6 h after the sign-up (until then it waits for `opportunity.published`,
  as above).
- One notification per (cause event id, template, channel): its id is derived from
  that triple, so a duplicate or replayed event maps onto the same ledger row.
- A cause event older than the configured age (48 h by default) notifies nobody: a
  first start over an old log, or a replay, must not message people about the past.
- A cause event timed more than a bound (5 min by default: clock skew) in the future is
  suppressed when first looked at (`cause_in_future`). Every wait above is measured from
  the cause time, so such a message would otherwise be looked at again every minute for
  as long as its time lies ahead (forever, for a year-9999 time), and the age rule could
  never retire it.
- Consent and contact details are checked when sending, not when the event arrives:
  a volunteer who withdraws consent in between gets nothing. A message for a volunteer
  not (yet) registered waits for the registration, looked at again every minute, for up
  to 6 h after its cause event, then is suppressed (`unknown_volunteer`).
- Quiet hours (21:00-08:00 in the platform's time zone by default) hold SMS until
  they end; email is not held.
- A failed send is retried with exponential backoff (5 s, 10 s, 20 s ... capped at
  10 min, with jitter) up to the configured attempts; a refusal that retrying cannot
  fix (a 4xx other than 408/429, an SMTP 5xx) fails at once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from schemas.common import Channel

EMAIL, SMS = Channel.EMAIL, Channel.SMS
REMINDER = "shift_reminder"
TRIGGERS: dict[str, tuple[tuple[str, tuple[Channel, ...]], ...]] = {
    "volunteer.registered": (("welcome", (EMAIL, SMS)),),
    "volunteer.signed_up": (("signup_confirmed", (EMAIL, SMS)), (REMINDER, (SMS, EMAIL))),
    "volunteer.signup_withdrawn": (("signup_withdrawn", (EMAIL,)),),
    "volunteer.hours_verified": (("hours_thanks", (EMAIL, SMS)),),
}
REMINDER_LEAD = dt.timedelta(hours=24)
# Order across topics is not guaranteed: a sign-up may arrive before the registration
# or the opportunity it refers to. Such a message waits (looked at again every minute)
# for up to 6 h after its cause event, then is suppressed.
UNKNOWN_WAIT = dt.timedelta(hours=6)
UNKNOWN_RECHECK = dt.timedelta(minutes=1)
MAX_FUTURE = dt.timedelta(minutes=5)  # the default of TATAWWU_NOTIFY_MAX_FUTURE_S
BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 600.0


def notification_id(cause_event_id: str, template: str, channel: str) -> str:
    """A stable id for (cause event, template, channel): `ntf-` and 24 hex digits."""
    digest = hashlib.sha256(f"{cause_event_id}\x1f{template}\x1f{channel}".encode()).hexdigest()
    return f"ntf-{digest[:24]}"


@dataclass(frozen=True)
class ReminderTiming:
    """When a due reminder goes: now (`send`), later (`until`), or never (`suppress`)."""

    send: bool = False
    until: dt.datetime | None = None
    suppress: str | None = None  # a SuppressionReason value


def reminder_timing(
    now: dt.datetime,
    cause_time: dt.datetime,
    starts_at: dt.datetime | None,
    opportunity_status: str | None,
    signup_status: str | None,
) -> ReminderTiming:
    """The reminder rules above, for a reminder that is due to be looked at `now`."""
    if opportunity_status is None or starts_at is None:
        if now - cause_time > UNKNOWN_WAIT:
            return ReminderTiming(suppress="unknown_opportunity")
        return ReminderTiming(until=now + UNKNOWN_RECHECK)
    if opportunity_status == "cancelled":
        return ReminderTiming(suppress="cancelled")
    if signup_status != "signed_up":
        return ReminderTiming(suppress="withdrawn")
    if starts_at <= now:
        return ReminderTiming(suppress="too_late")
    if starts_at - REMINDER_LEAD > now:
        return ReminderTiming(until=starts_at - REMINDER_LEAD)
    return ReminderTiming(send=True)


def is_stale(event_time: dt.datetime, now: dt.datetime, max_age_hours: float) -> bool:
    """True when the cause event is too old to notify anyone about."""
    return now - event_time > dt.timedelta(hours=max_age_hours)


def is_in_future(event_time: dt.datetime, now: dt.datetime, bound: dt.timedelta) -> bool:
    """True when the cause event claims a time further ahead than clocks can disagree."""
    return event_time - now > bound


@dataclass(frozen=True)
class QuietHours:
    """A daily window, in a time zone, during which SMS wait (may span midnight)."""

    start: dt.time
    end: dt.time
    zone: ZoneInfo

    @classmethod
    def parse(cls, window: str, zone: str) -> QuietHours | None:
        """From "21:00-08:00" (None for an empty string: no quiet hours)."""
        if not window.strip():
            return None
        try:
            start, end = (dt.time.fromisoformat(part.strip()) for part in window.split("-"))
        except ValueError as exc:
            msg = f"quiet hours must look like 21:00-08:00, not {window!r}"
            raise ValueError(msg) from exc
        return cls(start, end, ZoneInfo(zone))

    def release_time(self, now: dt.datetime) -> dt.datetime | None:
        """When an SMS due `now` may go out: None if now is outside the window."""
        local = now.astimezone(self.zone)
        moment = local.time()
        if self.start <= self.end:
            inside = self.start <= moment < self.end
        else:  # spans midnight
            inside = moment >= self.start or moment < self.end
        if not inside:
            return None
        release = local.replace(hour=self.end.hour, minute=self.end.minute, second=0, microsecond=0)
        if release <= local:
            release += dt.timedelta(days=1)
        return release.astimezone(dt.UTC)


def backoff_s(attempts: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt `attempts + 1` (attempts >= 1), with +-20% jitter."""
    base = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2 ** (attempts - 1))
    return base * (rng or random).uniform(0.8, 1.2)


def is_permanent_http(status: int) -> bool:
    """An SMS provider answer that retrying will not change."""
    return 400 <= status < 500 and status not in (408, 425, 429)


def is_permanent_smtp(code: int) -> bool:
    """An SMTP reply that retrying will not change (5xx; 4xx are transient)."""
    return 500 <= code < 600
