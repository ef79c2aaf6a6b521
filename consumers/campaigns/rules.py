"""The pure part of the campaigns read model: how events fold into rows.

Rules (the read model gives the same result whatever the order events arrive in):
- A campaign or opportunity row is its history folded in (time, id) order: launched /
  published set every field, updated changes the fields it names, closed / cancelled
  set the status. History is small, so the row is refolded whenever an event arrives.
- A participation is one (volunteer, opportunity) pair. Its sign-up status is the
  latest of its signed_up / signup_withdrawn events by (time, id): a withdrawal that
  arrives before its sign-up still wins if it is later. Check-in keeps the earliest
  `at`, check-out the latest `at`; a walk-in (check-in, no sign-up) is a participant.
- Verified hours: the latest `volunteer.hours_verified` for the pair by (time, id)
  replaces earlier ones. Only verified hours count toward targets and KPIs.
- A check-in with no verified hours credits unverified attended time: check-out (or,
  without one, the opportunity's scheduled end) minus check-in, shown separately.
- A no-show counts only while the pair has no check-in.
Every merge below is commutative, associative and idempotent, so batches can be
folded in any order, and the SQL upsert applies exactly the same rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from schemas.envelope import Event

PARTICIPATION_TYPES = frozenset({
    "volunteer.signed_up", "volunteer.signup_withdrawn", "volunteer.checked_in",
    "volunteer.checked_out", "volunteer.hours_verified", "volunteer.no_show",
})  # fmt: skip
CAMPAIGN_TYPES = frozenset({"campaign.launched", "campaign.updated", "campaign.closed"})
OPPORTUNITY_TYPES = frozenset({"opportunity.published", "opportunity.cancelled"})
Stamp = tuple[dt.datetime, str]  # (event time, event id): the order "latest wins" uses


@dataclass(frozen=True, slots=True)
class Participation:
    """What is known about one volunteer on one opportunity."""

    volunteer_id: str
    opportunity_id: str
    campaign_id: str
    signup_status: str | None = None  # "signed_up" | "withdrawn"
    signup_stamp: Stamp | None = None
    checked_in_at: dt.datetime | None = None
    checked_out_at: dt.datetime | None = None
    hours: float | None = None
    hours_stamp: Stamp | None = None
    no_show: bool = False


def _later(a: Stamp | None, b: Stamp | None) -> bool:
    """True when stamp b is later than a (None is earliest)."""
    return b is not None and (a is None or b > a)


def _least(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _greatest(a: dt.datetime | None, b: dt.datetime | None) -> dt.datetime | None:
    return b if a is None else a if b is None else max(a, b)


def merge(a: Participation, b: Participation) -> Participation:
    """Combine two partial views of the same pair (order-free)."""
    signup = b if _later(a.signup_stamp, b.signup_stamp) else a
    hours = b if _later(a.hours_stamp, b.hours_stamp) else a
    return replace(
        a,
        signup_status=signup.signup_status,
        signup_stamp=signup.signup_stamp,
        checked_in_at=_least(a.checked_in_at, b.checked_in_at),
        checked_out_at=_greatest(a.checked_out_at, b.checked_out_at),
        hours=hours.hours,
        hours_stamp=hours.hours_stamp,
        no_show=a.no_show or b.no_show,
    )


def participation_of(event: Event[Any]) -> Participation:
    """The partial view of a pair that one participation event gives."""
    data = event.data
    base = Participation(data.volunteer_id, data.opportunity_id, data.campaign_id)
    stamp = (event.time, event.id)
    match event.type:
        case "volunteer.signed_up":
            return replace(base, signup_status="signed_up", signup_stamp=stamp)
        case "volunteer.signup_withdrawn":
            return replace(base, signup_status="withdrawn", signup_stamp=stamp)
        case "volunteer.checked_in":
            return replace(base, checked_in_at=data.at)
        case "volunteer.checked_out":
            return replace(base, checked_out_at=data.at)
        case "volunteer.hours_verified":
            return replace(base, hours=float(data.hours), hours_stamp=stamp)
        case "volunteer.no_show":
            return replace(base, no_show=True)
    msg = f"{event.type} is not a participation event"
    raise ValueError(msg)


def fold_participations(events: Iterable[Event[Any]]) -> dict[tuple[str, str], Participation]:
    """One merged row per (volunteer, opportunity) for a batch: one upsert each."""
    pairs: dict[tuple[str, str], Participation] = {}
    for event in events:
        part = participation_of(event)
        key = (part.volunteer_id, part.opportunity_id)
        pairs[key] = merge(pairs[key], part) if key in pairs else part
    return pairs


CAMPAIGN_FIELDS = (
    "org_id", "title_ar", "title_en", "kind", "municipality", "starts_on", "ends_on",
    "target_volunteers", "target_hours",
)  # fmt: skip
OPPORTUNITY_FIELDS = (
    "campaign_id", "title_ar", "title_en", "starts_at", "ends_at", "capacity", "municipality",
    "min_age",
)  # fmt: skip


def fold_history(history: Sequence[tuple[dt.datetime, str, str, dict[str, Any]]]) -> dict[str, Any]:
    """A campaign or opportunity row from its (time, id, type, data) history, in any order."""
    row: dict[str, Any] = {"status": "unknown"}
    for _time, _id, event_type, data in sorted(history, key=lambda h: (h[0], h[1])):
        match event_type:
            case "campaign.launched" | "opportunity.published":
                row.update(data)
                if row["status"] == "unknown":
                    row["status"] = "active"
            case "campaign.updated":
                row.update({k: v for k, v in data.items() if v is not None})
            case "campaign.closed":
                row["status"] = "closed" if data.get("reason") != "cancelled" else "cancelled"
            case "opportunity.cancelled":
                row["status"] = "cancelled"
    return row
