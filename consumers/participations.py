"""Who took part in what: one row per (volunteer, opportunity), shared by every read model.

Rules (the same result whatever order events arrive in, across or within topics):
- Sign-up status is the latest of the pair's signed_up / signup_withdrawn events by
  (time, id, source): a withdrawal that arrives before its sign-up still wins if it is
  later. The source breaks ties between two partners' events that share an id.
- Check-in keeps the earliest `at`, check-out the latest `at`. A walk-in (check-in
  without sign-up) is a participant like any other.
- Verified hours: the latest `volunteer.hours_verified` for the pair by (time, id,
  source) replaces earlier ones. Only verified hours count toward targets and KPIs.
- A check-in without verified hours credits *unverified* attended time: check-out
  (or, without one, the opportunity's scheduled end) minus check-in, shown apart.
- A no-show counts only while the pair has no check-in.
- *Attended*: checked in, or has verified hours. The pair's *activity time* is its
  earliest check-in, else the time of its first hours verification.
- The pair's campaign is the smallest campaign id its facts name. Honest facts about
  one opportunity all name its campaign (the runtime's ownership check refuses the
  others); the rule only keeps a conflicting fact from winning by arriving first.
Every merge here is commutative, associative and idempotent (last-writer-wins by
(time, id, source), min, max, or), so batches fold in any order and the SQL upsert in
`upsert_participations` applies exactly these rules. Ids are compared in byte order on
both sides: Python compares str by code point (ids are ASCII by contract), and the SQL
says COLLATE "C", since the database's default collation may sort "a-1" after "A_1".
Each read model keeps its own copy of the table, in its own schema (migrations in
`sql_participations/`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from infra.migrations import Migrations
from schemas.attendance import (
    VolunteerCheckedIn,
    VolunteerCheckedOut,
    VolunteerHoursVerified,
    VolunteerNoShow,
)
from schemas.envelope import Event
from schemas.registry import type_of, types_of
from schemas.signups import VolunteerSignedUp, VolunteerSignupWithdrawn

SIGNED_UP = type_of(VolunteerSignedUp)
SIGNUP_WITHDRAWN = type_of(VolunteerSignupWithdrawn)
CHECKED_IN = type_of(VolunteerCheckedIn)
CHECKED_OUT = type_of(VolunteerCheckedOut)
HOURS_VERIFIED = type_of(VolunteerHoursVerified)
NO_SHOW = type_of(VolunteerNoShow)
PARTICIPATION_TYPES = types_of(
    VolunteerSignedUp, VolunteerSignupWithdrawn, VolunteerCheckedIn, VolunteerCheckedOut,
    VolunteerHoursVerified, VolunteerNoShow,
)  # fmt: skip
MIGRATIONS = Migrations("participations", Path(__file__).with_name("sql_participations"))
Stamp = tuple[dt.datetime, str, str]  # (time, id, source): the order "latest wins" uses


@dataclass(slots=True)
class Participation:
    """What is known about one volunteer on one opportunity.

    Treated as immutable (`merge` builds a new one) but not declared frozen: a frozen
    dataclass is four times slower to construct, and two are built per event.
    """

    volunteer_id: str
    opportunity_id: str
    campaign_id: str
    signup_status: str | None = None  # "signed_up" | "withdrawn"
    signup_stamp: Stamp | None = None
    checked_in_at: dt.datetime | None = None
    checked_out_at: dt.datetime | None = None
    hours: float | None = None
    hours_stamp: Stamp | None = None
    first_verified_at: dt.datetime | None = None
    no_show: bool = False

    @property
    def attended(self) -> bool:
        return self.checked_in_at is not None or self.hours is not None

    @property
    def activity_time(self) -> dt.datetime | None:
        return self.checked_in_at or self.first_verified_at


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
    return Participation(
        a.volunteer_id,
        a.opportunity_id,
        min(a.campaign_id, b.campaign_id),
        signup_status=signup.signup_status,
        signup_stamp=signup.signup_stamp,
        checked_in_at=_least(a.checked_in_at, b.checked_in_at),
        checked_out_at=_greatest(a.checked_out_at, b.checked_out_at),
        hours=hours.hours,
        hours_stamp=hours.hours_stamp,
        first_verified_at=_least(a.first_verified_at, b.first_verified_at),
        no_show=a.no_show or b.no_show,
    )


def _stamp(event: Event[Any]) -> Stamp:
    return (event.time, event.id, event.source)


def participation_of(event: Event[Any]) -> Participation:
    """The partial view of a pair that one participation event gives."""
    data = event.data
    # Direct construction, not dataclasses.replace: this runs for every event (hot path).
    pair = (data.volunteer_id, data.opportunity_id, data.campaign_id)
    kind = event.type
    if kind == SIGNED_UP:
        return Participation(*pair, signup_status="signed_up", signup_stamp=_stamp(event))
    if kind == SIGNUP_WITHDRAWN:
        return Participation(*pair, signup_status="withdrawn", signup_stamp=_stamp(event))
    if kind == CHECKED_IN:
        return Participation(*pair, checked_in_at=data.at)
    if kind == CHECKED_OUT:
        return Participation(*pair, checked_out_at=data.at)
    if kind == HOURS_VERIFIED:
        return Participation(
            *pair, hours=float(data.hours), hours_stamp=_stamp(event),
            first_verified_at=event.time,
        )  # fmt: skip
    if kind == NO_SHOW:
        return Participation(*pair, no_show=True)
    msg = f"{event.type} is not a participation event"
    raise ValueError(msg)


def fold_participations(
    events: Iterable[Event[Any]], pairs: dict[tuple[str, str], Participation] | None = None
) -> dict[tuple[str, str], Participation]:
    """One merged row per (volunteer, opportunity) for a batch: one upsert each.

    `pairs`: rows folded so far, merged into (and returned) when given.
    """
    pairs = {} if pairs is None else pairs
    for event in events:
        part = participation_of(event)
        key = (part.volunteer_id, part.opportunity_id)
        pairs[key] = merge(pairs[key], part) if key in pairs else part
    return pairs


EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
ONE_US = dt.timedelta(microseconds=1)
_AT = "(timestamptz 'epoch' + ({})::int8 * interval '1 microsecond')"
# Ids and sources compare in byte order (COLLATE "C"), as Python compares them in `merge`.
_LWW = """
    {col} = case when (excluded.{t}, excluded.{e} collate "C", excluded.{s} collate "C")
            > (coalesce(p.{t}, '-infinity'), coalesce(p.{e}, '') collate "C",
               coalesce(p.{s}, '') collate "C")
        then excluded.{col} else p.{col} end"""
_SIGNUP = {"t": "signup_time", "e": "signup_event", "s": "signup_source"}
_HOURS = {"t": "hours_time", "e": "hours_event", "s": "hours_source"}
# The rows travel as one JSON array of arrays (see UpsertBuilder.result for the order).
UPSERT = f"""
insert into participations as p (volunteer_id, opportunity_id, campaign_id, signup_status,
    signup_time, signup_event, checked_in_at, checked_out_at, hours, hours_time, hours_event,
    first_verified_at, no_show, signup_source, hours_source)
select r->>0, r->>1, r->>2, r->>3, {_AT.format("r->>4")}, r->>5, {_AT.format("r->>6")},
    {_AT.format("r->>7")}, (r->>8)::numeric(6, 2), {_AT.format("r->>9")}, r->>10,
    {_AT.format("r->>11")}, (r->>12)::boolean, r->>13, r->>14
from jsonb_array_elements($1::text::jsonb) as r
on conflict (volunteer_id, opportunity_id) do update set
    campaign_id = least(p.campaign_id collate "C", excluded.campaign_id collate "C"),
    {",".join(_LWW.format(col=c, **_SIGNUP) for c in ("signup_status", *_SIGNUP.values()))},
    {",".join(_LWW.format(col=c, **_HOURS) for c in ("hours", *_HOURS.values()))},
    checked_in_at = least(p.checked_in_at, excluded.checked_in_at),
    checked_out_at = greatest(p.checked_out_at, excluded.checked_out_at),
    first_verified_at = least(p.first_verified_at, excluded.first_verified_at),
    no_show = p.no_show or excluded.no_show
"""


def _us(moment: dt.datetime | None) -> int | None:
    """Microseconds since the epoch: cheaper to encode and to parse than a timestamp."""
    return None if moment is None else (moment - EPOCH) // ONE_US


Prepared = str  # the upsert's rows as JSON


class UpsertBuilder:
    """Builds the participation upsert of one batch ahead of its transaction (pure CPU).

    The runtime feeds it every decoded event of a batch, a slice at a time between
    yields to the event loop, duplicates and redeliveries included: every merge is
    idempotent, so rows folded from a superset of the fresh events upsert to exactly
    the same result. The rows travel as one JSON document (times as int8 microseconds)
    that PostgreSQL takes apart: encoding thirteen parameter arrays cost ten times more
    client CPU, and unnesting them more server time, measured.
    """

    def __init__(self) -> None:
        self.pairs: dict[tuple[str, str], Participation] = {}

    def add(self, events: Iterable[Event[Any]]) -> None:
        fold_participations((e for e in events if e.type in PARTICIPATION_TYPES), self.pairs)

    def result(self) -> Prepared | None:
        """The upsert's parameter (None: no participation event in the batch)."""
        if not self.pairs:
            return None
        return orjson.dumps([
            (r.volunteer_id, r.opportunity_id, r.campaign_id, r.signup_status,
             _us(r.signup_stamp[0]) if r.signup_stamp else None,
             r.signup_stamp[1] if r.signup_stamp else None,
             _us(r.checked_in_at), _us(r.checked_out_at), r.hours,
             _us(r.hours_stamp[0]) if r.hours_stamp else None,
             r.hours_stamp[1] if r.hours_stamp else None,
             _us(r.first_verified_at), r.no_show,
             r.signup_stamp[2] if r.signup_stamp else None,
             r.hours_stamp[2] if r.hours_stamp else None)
            for r in self.pairs.values()
        ]).decode()  # fmt: skip


def prepare_upsert(events: Iterable[Event[Any]]) -> Prepared | None:
    """The upsert's parameter for these events, in one call (see `UpsertBuilder`)."""
    builder = UpsertBuilder()
    builder.add(events)
    return builder.result()


async def upsert_participations(
    conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Prepared | None = None
) -> None:
    """One set-based upsert with the rules above (`prepared`: its parameter built ahead of time).

    Every SET expression sees the old row (PostgreSQL semantics), so the four columns
    of a last-writer-wins group all compare against the same old stamp.
    """
    rows = prepared if prepared is not None else prepare_upsert(events)
    if rows is not None:
        await conn.execute(UPSERT, rows)


def row_to_participation(r: Any) -> Participation:
    """A participations row (asyncpg Record or dict) as the pure model."""
    return Participation(
        r["volunteer_id"], r["opportunity_id"], r["campaign_id"], r["signup_status"],
        (r["signup_time"], r["signup_event"], r["signup_source"] or "")
        if r["signup_time"] else None,
        r["checked_in_at"], r["checked_out_at"],
        float(r["hours"]) if r["hours"] is not None else None,
        (r["hours_time"], r["hours_event"], r["hours_source"] or "")
        if r["hours_time"] else None,
        r["first_verified_at"], r["no_show"],
    )  # fmt: skip
