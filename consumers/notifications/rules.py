"""What to send for which event, and when: pure rules, unit-tested without I/O.

- Triggers: `volunteer.registered` -> `welcome` (email, SMS); `volunteer.signed_up` ->
  `signup_confirmed` (email, SMS), `shift_reminder` (SMS, email), `shift_reminder_2h`
  (SMS) and `attendance_confirmation` (SMS, one per volunteer and opportunity, whatever
  sign-up asked for it: `PER_PAIR`);
  `volunteer.signup_withdrawn` -> `signup_withdrawn` (email); `volunteer.hours_verified`
  -> `hours_thanks` (email, SMS). Other events notify nobody.
- Messages about one sign-up (reminders 24 h and 2 h before, the attendance
  confirmation, a waiting-list promotion, an opportunity change) are timed by
  `schedule.py`, from the opportunity and sign-up as they stand when due. Changes,
  promotions, alerts and auto-release are enqueued by `changes.py`, `waitlist.py`,
  `alerts.py` and `confirmations.py`.
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
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from consumers.history import History, ordered
from consumers.notifications.schedule import (
    ALERT,
    CONFIRMATION,
    REMINDER,
    REMINDER_2H,
    SCHEDULED,
    UNKNOWN_RECHECK,
    UNKNOWN_WAIT,
    Leads,
    timing,
)
from consumers.notifications.templates import GENERIC_OPPORTUNITY
from consumers.notifications.variables import message_variables
from consumers.runtime import identity
from consumers.volunteers.rules import fold_profile
from schemas.attendance import VolunteerHoursVerified
from schemas.campaigns import OpportunityCancelled, OpportunityPublished, OpportunityUpdated
from schemas.common import Channel
from schemas.envelope import Event
from schemas.notifications import SuppressionReason
from schemas.registry import type_of, types_of
from schemas.signups import VolunteerSignedUp, VolunteerSignupWithdrawn
from schemas.volunteers import VolunteerRegistered

EMAIL, SMS = Channel.EMAIL, Channel.SMS
TRIGGERS: dict[str, tuple[tuple[str, tuple[Channel, ...]], ...]] = {
    type_of(VolunteerRegistered): (("welcome", (EMAIL, SMS)),),
    type_of(VolunteerSignedUp): (
        ("signup_confirmed", (EMAIL, SMS)),
        (REMINDER, (SMS, EMAIL)),
        (REMINDER_2H, (SMS,)),
        (CONFIRMATION, (SMS,)),
    ),
    type_of(VolunteerSignupWithdrawn): (("signup_withdrawn", (EMAIL,)),),
    type_of(VolunteerHoursVerified): (("hours_thanks", (EMAIL, SMS)),),
}
PUBLISHED = type_of(OpportunityPublished)
CANCELLED = type_of(OpportunityCancelled)
UPDATED = type_of(OpportunityUpdated)
OPPORTUNITY_TYPES = types_of(OpportunityPublished, OpportunityCancelled, OpportunityUpdated)
# Templates with one message per (volunteer, opportunity), whatever sign-up asked for it.
PER_PAIR = frozenset({CONFIRMATION})
CONTACT_COLUMNS = {
    "given_name": "text", "phone": "text", "email": "text", "language": "text",
    "consent": "jsonb", "status": "text", "municipality": "text", "birth_year": "int",
    "alerts_on": "tstzmultirange",
}  # fmt: skip
OPPORTUNITY_COLUMNS = {
    "title_ar": "text", "title_en": "text", "starts_at": "timestamptz", "status": "text",
    "campaign_id": "text", "ends_at": "timestamptz", "capacity": "int", "municipality": "text",
    "min_age": "int", "auto_release": "bool",
}  # fmt: skip
_OPPORTUNITY_FIELDS = tuple(k for k in OPPORTUNITY_COLUMNS if k != "status")
# (notification id, cause event id, template, channel, volunteer id, cause time, context,
# cause trace id)
Row = tuple[str, str, str, str, str, dt.datetime, dict[str, Any], str | None]
# Order across topics is not guaranteed: a sign-up may arrive before the registration
# or the opportunity it refers to. Such a message waits (looked at again every minute)
# for up to 6 h after its cause event, then is suppressed (UNKNOWN_WAIT, UNKNOWN_RECHECK).
MAX_FUTURE = dt.timedelta(minutes=5)  # the default of TATAWWU_NOTIFY_MAX_FUTURE_S
BACKOFF_BASE_S = 5.0
BACKOFF_CAP_S = 600.0


def fold_contact(events: History) -> dict[str, Any]:
    """How to reach the volunteer, from the same profile rules as the directory."""
    profile = fold_profile(events)
    row = {k: profile.get(k) for k in CONTACT_COLUMNS}
    row["alerts_on"] = alerts_on(events) if row["status"] == "registered" else "{}"
    return row


def alerts_on(events: History) -> str:
    """When, in event time, the volunteer had alerts consent on: a `tstzmultirange` literal.

    An opportunity alerts the volunteers whose consent was on at its publication's time,
    whatever order the facts arrive in (`alerts.py`): the consent's history, not only its
    last state. Consent comes with the registration, a profile update or a consent change,
    folded in (time, id) order like the profile.
    """
    spans: list[str] = []
    since: dt.datetime | None = None
    for time, _id, _type, data in ordered(events):
        consent = data.get("consent")
        if not isinstance(consent, dict):
            continue
        if consent.get("alerts") is True:
            since = since or time
        elif since is not None:
            if time > since:  # on and off at one instant: never on
                spans.append(f'["{since.isoformat()}","{time.isoformat()}")')
            since = None
    if since is not None:
        spans.append(f'["{since.isoformat()}",)')
    return "{" + ",".join(spans) + "}"


def fold_opportunity(events: History) -> dict[str, Any]:
    """Title, time, place and capacity of an opportunity (cancelled stays cancelled).

    An update changes the fields it carries, whenever it arrives (history is refolded in
    (time, id) order): one timed before the publication is overwritten by it.
    """
    row: dict[str, Any] = {"status": "unknown"}
    for _time, _id, event_type, data in ordered(events):
        if event_type == PUBLISHED:
            row.update({k: data.get(k) for k in _OPPORTUNITY_FIELDS})
            row["auto_release"] = bool(data.get("auto_release"))
            row["status"] = "cancelled" if row["status"] == "cancelled" else "published"
        elif event_type == UPDATED:
            row.update(
                {k: v for k, v in data.items() if k in _OPPORTUNITY_FIELDS and v is not None}
            )
        elif event_type == CANCELLED:
            row["status"] = "cancelled"
    return row


def ledger_rows(
    events: Sequence[Event[Any]],
    now: dt.datetime,
    max_age_hours: float,
    traces: Sequence[str | None] | None = None,
) -> list[Row]:
    """The ledger rows these events call for (pure).

    Each is (notification id, cause event id, template, channel, volunteer id, cause
    time, context, cause trace id): the context keeps what the text needs from the
    event; `traces` (one per event, or none) the trace its record carried, for the
    sender's log lines.
    """
    rows: list[Row] = []
    for n, event in enumerate(events):
        triggers = TRIGGERS.get(event.type)
        if triggers is None or is_stale(event.time, now, max_age_hours):
            continue
        data = event.data
        context: dict[str, Any] = {}
        if hasattr(data, "opportunity_id"):
            context["opportunity_id"] = data.opportunity_id
        if isinstance(getattr(data, "hours", None), Decimal | float | int):
            context["hours"] = str(data.hours)
        for template, channels in triggers:
            # Keyed by the cause's identity (source and id): two partners may both use
            # an id; each of their events notifies. A per-pair message, by the pair.
            key = (
                f"pair {data.volunteer_id} {data.opportunity_id}"
                if template in PER_PAIR else identity(event)
            )  # fmt: skip
            for channel in channels:
                rows.append((
                    notification_id(key, template, channel), event.id, template,
                    str(channel), data.volunteer_id, event.time, context,
                    traces[n] if traces is not None else None,
                ))  # fmt: skip
    return rows


def notification_id(cause_event_id: str, template: str, channel: str) -> str:
    """A stable id for (cause event, template, channel): `ntf-` and 24 hex digits."""
    digest = hashlib.sha256(f"{cause_event_id}\x1f{template}\x1f{channel}".encode()).hexdigest()
    return f"ntf-{digest[:24]}"


def sql_notification_id(key: str, template: str, channel: str) -> str:
    """`notification_id` as a SQL expression over three text expressions (set-based inserts)."""
    joined = f"convert_to({key} || chr(31) || {template} || chr(31) || {channel}, 'UTF8')"
    return f"'ntf-' || left(encode(sha256({joined}), 'hex'), 24)"


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


@dataclass(frozen=True)
class Claimed:
    """A ledger row taken for one delivery attempt."""

    notification_id: str
    cause_event_id: str
    template: str
    channel: str
    volunteer_id: str
    context: dict[str, Any]
    attempts: int
    cause_time: dt.datetime
    cause_trace_id: str | None = None  # the trace the cause event's record carried
    lease_token: Any = None  # this claim's token (uuid): every later update must match it


@dataclass(frozen=True)
class Decision:
    """What to do with a claimed row: send to `address`, suppress, or hold until `until`."""

    address: str | None = None
    suppress: SuppressionReason | None = None
    until: dt.datetime | None = None


def decide(
    row: Claimed,
    contact: dict[str, Any] | None,
    now: dt.datetime,
    quiet: QuietHours | None,
    opportunity: dict[str, Any] | None = None,
    signup_status: str | None = None,
    *,
    max_future: dt.timedelta = MAX_FUTURE,
    leads: Leads | None = None,
) -> Decision:
    """Timing (`schedule`), consent, contact details and quiet hours, as they stand now (pure)."""
    if is_in_future(row.cause_time, now, max_future):  # every wait below would never end
        return Decision(suppress=SuppressionReason.CAUSE_IN_FUTURE)
    if contact is None or contact.get("status") != "registered":
        if now - row.cause_time > UNKNOWN_WAIT:
            return Decision(suppress=SuppressionReason.UNKNOWN_VOLUNTEER)
        return Decision(until=now + UNKNOWN_RECHECK)  # its registration may still come
    if row.template in SCHEDULED:
        timed = timing(
            row.template,
            now,
            row.cause_time,
            opportunity.get("starts_at") if opportunity else None,
            opportunity.get("status") if opportunity else None,
            signup_status,
            leads,
        )
        if timed.suppress is not None:
            return Decision(suppress=SuppressionReason(timed.suppress))
        if timed.until is not None:
            return Decision(until=timed.until)
    consent = contact.get("consent") or {}
    if row.template == ALERT:  # opted in; a lone alert of a cancelled opportunity is void
        if not consent.get("alerts"):
            return Decision(suppress=SuppressionReason.NO_CONSENT)
        if (opportunity or {}).get("status") == "cancelled" and row.context.get("count") == 1:
            return Decision(suppress=SuppressionReason.CANCELLED)
    address = contact.get("email") if row.channel == EMAIL else contact.get("phone")
    if not address:
        return Decision(suppress=SuppressionReason.NO_CONTACT)
    if not consent.get(str(row.channel)):
        return Decision(suppress=SuppressionReason.NO_CONSENT)
    if row.channel == SMS and quiet is not None and (until := quiet.release_time(now)):
        return Decision(until=until)
    return Decision(address=address)


def text_variables(
    row: Claimed, contact: dict[str, Any], opportunity: dict[str, Any] | None, zone: Any
) -> dict[str, Any]:
    """What the templates fill in (see templates.py)."""
    lang = contact.get("language") or "ar"
    title = opportunity.get(f"title_{lang}") if opportunity else None
    starts_at = opportunity.get("starts_at") if opportunity else None
    return {
        "name": contact.get("given_name") or "",
        "opportunity": title or GENERIC_OPPORTUNITY.get(lang, GENERIC_OPPORTUNITY["ar"]),
        "starts_at": starts_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if starts_at else "",
        "hours": row.context.get("hours", ""),
        **message_variables(row.template, row.context, lang, zone),
    }
