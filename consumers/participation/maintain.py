"""Keeping the KPI projection in the batch's transaction (the pure part: `coverage.py`).

The participation read model merges its participations with `apply_participations`
instead of the shared part's plain upsert: it reads the batch's pairs as they were,
upserts them (returning them as they are now), and for every volunteer whose attended
activity moved, appeared or vanished, or whose profile changed, replaces what that
volunteer contributes to the counts. Everything is derived from the merged rows, never
from the events themselves, so duplicates, redeliveries and any order of arrival give
the same tables (tests/integration/ordering); `backfill` builds the same from scratch.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg
import orjson
import structlog

from consumers.participation.coverage import Cell, Delta, VolunteerDays
from consumers.participations import (
    MIGRATIONS,
    PARTICIPATION_TYPES,
    UPSERT,
    UpsertBuilder,
    prepare_upsert,
)
from consumers.parts import Part
from consumers.volunteers.rules import PROFILE_TYPES
from schemas.envelope import Event

log = structlog.get_logger()
# Each pair's contribution: attended or not, and its activity day in both calendars.
_PAIR = """
    (p.checked_in_at is not null or p.hours is not null) as attended, p.hours,
    (coalesce(p.checked_in_at, p.first_verified_at) at time zone 'Asia/Qatar')::date as qday,
    (coalesce(p.checked_in_at, p.first_verified_at) at time zone 'UTC')::date as uday"""
BEFORE = f"""
select p.volunteer_id, p.opportunity_id, {_PAIR}
from participations p join jsonb_array_elements($1::text::jsonb) r
  on p.volunteer_id = r->>0 and p.opportunity_id = r->>1
"""
UPSERT_RETURNING = f"{UPSERT} returning p.volunteer_id, p.opportunity_id, {_PAIR}"
STATES = "select * from kpi_volunteers where volunteer_id = any($1::text[])"
PROFILES = """
select volunteer_id, municipality, gender, nationality_group, birth_year
from volunteer_profiles where volunteer_id = any($1::text[])
"""
# One statement for the batch's volunteers (one JSON document: per-row executions cost
# ~10% of the projector's CPU at national size); JSON arrays become the array columns.
SAVE_STATES = """
insert into kpi_volunteers
select * from jsonb_populate_recordset(null::kpi_volunteers, $1::text::jsonb)
on conflict (volunteer_id) do update set municipality = excluded.municipality,
    gender = excluded.gender, nationality_group = excluded.nationality_group,
    birth_year = excluded.birth_year, days = excluded.days, day_pairs = excluded.day_pairs,
    day_hours = excluded.day_hours, utc_days = excluded.utc_days, utc_pairs = excluded.utc_pairs
"""
# Each count table: upsert the sums, then drop the rows that came to zero (an absent
# row and a zero row mean the same, and one order of arrival must not leave either).
_KEYS = {
    "kpi_active": (
        ("year", "smallint"), ("node", "smallint"), ("municipality", "text"),
        ("gender", "text"), ("age_band", "text"), ("nationality_group", "text"),
    ),
    "kpi_monthly": (("month", "date"), ("municipality", "text")),
    "kpi_hours": (("day", "date"), ("municipality", "text")),
    "kpi_hours_total": (("municipality", "text"),),
}  # fmt: skip
_VALUE = {"kpi_active": ("active", "int"), "kpi_monthly": ("active", "int"),
          "kpi_hours": ("hours", "numeric"), "kpi_hours_total": ("hours", "numeric")}  # fmt: skip


def _count_sql(table: str) -> tuple[str, str]:
    keys, (value, kind) = _KEYS[table], _VALUE[table]
    names = ", ".join(k for k, _ in keys)
    arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate((*keys, (value, kind)), 1))
    upsert = (
        f"with up as (insert into {table} as t ({names}, {value}) select * from unnest({arrays})"
        f" on conflict ({names}) do update set {value} = t.{value} + excluded.{value}"
        f" returning {value}) select count(*) filter (where {value} = 0) from up"
    )
    key_arrays = ", ".join(f"${i}::{t}[]" for i, (_, t) in enumerate(keys, 1))
    zero = (
        f"delete from {table} where {value} = 0"
        f" and ({names}) in (select * from unnest({key_arrays}))"
    )
    return upsert, zero


COUNT_SQL = {table: _count_sql(table) for table in _KEYS}
Change = tuple[str, Any, Any, Any, int]  # volunteer, qday, uday, hours, sign


def pair_changes(before: Iterable[Any], after: Iterable[Any]) -> list[Change]:
    """What the upsert changed in attended activity: each pair's old contribution out,
    its new one in (nothing for a pair whose day and hours stayed the same)."""
    old = {(r["volunteer_id"], r["opportunity_id"]): r for r in before}
    changes: list[Change] = []
    for new in after:
        was = old.get((new["volunteer_id"], new["opportunity_id"]))
        then = (was["attended"], was["qday"], was["uday"], was["hours"]) if was else None
        now = (new["attended"], new["qday"], new["uday"], new["hours"])
        if then == now:
            continue
        if then is not None and then[0]:
            changes.append((new["volunteer_id"], then[1], then[2], then[3], -1))
        if now[0]:
            changes.append((new["volunteer_id"], now[1], now[2], now[3], 1))
    return changes


def state_of(row: Any) -> VolunteerDays:
    """A `kpi_volunteers` row as the pure model."""
    cell = Cell(row["municipality"], row["gender"], row["nationality_group"], row["birth_year"])
    days = dict(zip(row["days"], zip(row["day_pairs"], row["day_hours"], strict=True),
                    strict=True))  # fmt: skip
    return VolunteerDays(cell, days, dict(zip(row["utc_days"], row["utc_pairs"], strict=True)))


def cell_of(row: Any | None) -> Cell:
    """The cell of a `volunteer_profiles` row (None: no profile yet), as the scan's joins."""
    if row is None:
        return Cell()
    return Cell(*(row[k] or "unknown" for k in ("municipality", "gender", "nationality_group")),
                row["birth_year"])  # fmt: skip


def _state_row(volunteer: str, s: VolunteerDays) -> dict[str, Any]:
    days, udays = sorted(s.days), sorted(s.utc_days)
    c = s.cell
    return {"volunteer_id": volunteer, "municipality": c.municipality, "gender": c.gender,
            "nationality_group": c.nationality_group, "birth_year": c.birth_year,
            "days": days, "day_pairs": [s.days[d][0] for d in days],
            "day_hours": [str(s.days[d][1]) for d in days], "utc_days": udays,
            "utc_pairs": [s.utc_days[d] for d in udays]}  # fmt: skip


async def write_counts(conn: asyncpg.Connection, delta: Delta) -> None:
    """Add a batch's changes to the count tables (sorted: one lock order)."""
    delta = delta.nonzero()
    sources = {"kpi_active": delta.active, "kpi_monthly": delta.months,
               "kpi_hours": delta.hours, "kpi_hours_total": delta.totals}  # fmt: skip
    for table, counts in sources.items():
        if not counts:
            continue
        items = sorted(counts.items())
        keys = [k if isinstance(k, tuple) else (k,) for k, _ in items]
        columns = [list(c) for c in zip(*keys, strict=True)]
        upsert, zero = COUNT_SQL[table]
        if await conn.fetchval(upsert, *columns, [v for _, v in items]):
            await conn.execute(zero, *columns)


async def maintain(
    conn: asyncpg.Connection,
    changes: Sequence[Change],
    profiled: Iterable[str],
    *,
    fresh: bool = False,
) -> int:
    """Apply the batch's activity changes and profile changes; the volunteers touched.

    `fresh`: `changes` are all the volunteers' attended pairs, not changes to their days.
    """
    touched = sorted({c[0] for c in changes} | set(profiled))
    if not touched:
        return 0
    states = {r["volunteer_id"]: state_of(r) for r in await conn.fetch(STATES, touched)}
    profiles = {r["volunteer_id"]: r for r in await conn.fetch(PROFILES, touched)}
    news: dict[str, VolunteerDays] = {}
    for volunteer in touched:
        old = states.get(volunteer)
        new = VolunteerDays(cell_of(profiles.get(volunteer)))
        if old is not None and not fresh:
            new.days, new.utc_days = dict(old.days), dict(old.utc_days)
        news[volunteer] = new
    for volunteer, qday, uday, hours, sign in changes:
        news[volunteer].add(qday, uday, hours, sign)
    delta = Delta()
    for volunteer, state in news.items():
        delta.change(states.get(volunteer), state)
    gone = [v for v, s in news.items() if not s.days and v in states]
    kept = [_state_row(v, s) for v, s in news.items() if s.days and s != states.get(v)]
    if kept:
        await conn.execute(SAVE_STATES, orjson.dumps(kept).decode())
    if gone:
        await conn.execute("delete from kpi_volunteers where volunteer_id = any($1)", gone)
    await write_counts(conn, delta)
    return len(touched)


async def apply_participations(
    conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: str | None
) -> None:
    """The shared participations upsert, with the KPI projection kept alongside."""
    rows = prepared if prepared is not None else prepare_upsert(events)
    changes: list[Change] = []
    if rows is not None:
        before = await conn.fetch(BEFORE, rows)
        changes = pair_changes(before, await conn.fetch(UPSERT_RETURNING, rows))
    profiled = {e.data.volunteer_id for e in events if e.type in PROFILE_TYPES}
    await maintain(conn, changes, profiled)


def participations_with_kpi() -> Part:
    """The shared `participations` part, with the KPI projection (this read model's)."""
    return Part("participations", PARTICIPATION_TYPES, apply_participations, (MIGRATIONS,),
                UpsertBuilder)  # fmt: skip


BACKFILL_CHUNK = 5_000
ALL_ACTIVITY = f"""
select p.volunteer_id, p.opportunity_id, {_PAIR} from participations p
where (p.checked_in_at is not null or p.hours is not null) and p.volunteer_id = any($1::text[])
"""


async def refresh(conn: asyncpg.Connection, volunteers: Sequence[str]) -> int:
    """Recompute these volunteers' part of the projection from their merged rows (for
    rows written into `participations` or `volunteer_profiles` by other means)."""
    pairs = await conn.fetch(ALL_ACTIVITY, list(volunteers))
    return await maintain(conn, pair_changes([], pairs), volunteers, fresh=True)


async def backfill(conn: asyncpg.Connection) -> int:
    """Build the projection from the merged tables when it is empty and they are not (a
    schema migrated from before it); the volunteers done. Idempotent."""
    if await conn.fetchval("select exists (select 1 from kpi_volunteers)"):
        return 0
    ids = [r[0] for r in await conn.fetch("select distinct volunteer_id from activity")]
    started, done = time.perf_counter(), 0
    async with conn.transaction():  # all or nothing: a half-built projection is not empty
        for at in range(0, len(ids), BACKFILL_CHUNK):
            done += await refresh(conn, ids[at : at + BACKFILL_CHUNK])
    if ids:
        ms = int(1000 * (time.perf_counter() - started))
        log.info("kpi_backfilled", volunteers=done, duration_ms=ms)
    return done
