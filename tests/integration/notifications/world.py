"""Events for the notifier tests: volunteers, an opportunity, sign-ups, verified hours."""

from __future__ import annotations

import datetime as dt
from typing import Any

from infra.kafka import build_producer
from infra.settings import Settings
from schemas.decode import encode_event
from schemas.envelope import Event
from schemas.registry import spec_of
from tests.support.events import decoded, iso

SOURCE = "partner/org-1"


def _event(
    event_type: str, event_id: str, time: dt.datetime | None = None, **data: Any
) -> Event[Any]:
    """The example of `event_type` from org-1 with exactly this payload, at `time` (now)."""
    at = time or dt.datetime.now(dt.UTC)
    return decoded(event_type, event_id, at, source=SOURCE, data=data)


def registered(
    volunteer_id: str, *, language: str = "ar", sms: bool = True, email: bool = True,
    time: dt.datetime | None = None,
) -> Event[Any]:  # fmt: skip
    n = int("".join(c for c in volunteer_id if c.isdigit()) or "0")
    return _event(
        "volunteer.registered", f"reg-{volunteer_id}", time,
        volunteer_id=volunteer_id, given_name="مريم" if language == "ar" else "Sara",
        phone=f"+9745{n:07d}", email=f"{volunteer_id}@example.org", language=language,
        birth_year=1995, gender="female", nationality_group="qatari", municipality="doha",
        consent={"sms": sms, "email": email},
    )  # fmt: skip


def opportunity(
    opportunity_id: str = "opp-1", starts_in: dt.timedelta = dt.timedelta(hours=20)
) -> Event[Any]:
    """Published; it starts `starts_in` from now (within 24 h: its reminders are due)."""
    starts = dt.datetime.now(dt.UTC).replace(microsecond=0) + starts_in
    return _event(
        "opportunity.published", f"pub-{opportunity_id}",
        opportunity_id=opportunity_id, campaign_id="cmp-1", title_ar="تنظيف الشاطئ",
        title_en="Beach clean-up", starts_at=iso(starts),
        ends_at=iso(starts + dt.timedelta(hours=3)), capacity=50, municipality="doha",
        min_age=16,
    )  # fmt: skip


def signed_up(volunteer_id: str, opportunity_id: str = "opp-1", **kw: Any) -> Event[Any]:
    return _event(
        "volunteer.signed_up", kw.get("event_id") or f"su-{volunteer_id}-{opportunity_id}",
        kw.get("time"), volunteer_id=volunteer_id, opportunity_id=opportunity_id,
        campaign_id="cmp-1",
    )  # fmt: skip


def hours_verified(volunteer_id: str, hours: str = "2.5") -> Event[Any]:
    return _event(
        "volunteer.hours_verified", f"hv-{volunteer_id}", volunteer_id=volunteer_id,
        opportunity_id="opp-1", campaign_id="cmp-1", hours=float(hours), verified_by="org-1",
    )  # fmt: skip


def launched() -> Event[Any]:
    """Campaign cmp-1, launched by org-1: the claim every fact of these tests needs."""
    return _event(
        "campaign.launched", "launch-cmp-1", dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        campaign_id="cmp-1", org_id="org-1", title_ar="حملة الشاطئ",
        title_en="Beach campaign", kind="volunteer_drive", municipality="doha",
        starts_on="2026-01-01", ends_on="2027-12-31", target_volunteers=100, target_hours=300,
    )  # fmt: skip


async def publish_events(settings: Settings, prefix: str, events: list[Event[Any]]) -> None:
    """Send the events to their (prefixed) topics, keyed by subject, and wait for the acks.

    Campaign cmp-1's launch goes first every time (the same event: counted once), so the
    ownership rules can decide every fact; tests of those rules live elsewhere.
    """
    events = [launched(), *events]
    producer = build_producer(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(
                prefix + spec_of(e).topic.name, encode_event(e), key=e.subject.encode()
            )
            for e in events
        ]
        for future in futures:
            await future
    finally:
        await producer.stop()


def withdrawn(volunteer_id: str, opportunity_id: str = "opp-1") -> Event[Any]:
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    return _event(
        "volunteer.signup_withdrawn", f"wd-{volunteer_id}-{opportunity_id}", later,
        volunteer_id=volunteer_id, opportunity_id=opportunity_id, campaign_id="cmp-1",
    )  # fmt: skip


def cancelled(opportunity_id: str) -> Event[Any]:
    return _event(
        "opportunity.cancelled", f"cx-{opportunity_id}", opportunity_id=opportunity_id,
        campaign_id="cmp-1", reason="Heat warning",
    )  # fmt: skip
