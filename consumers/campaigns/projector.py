"""The I/O part of the campaigns read model: one batch, a few set-based statements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from consumers.campaigns.rules import (
    CAMPAIGN_FIELDS,
    CAMPAIGN_TYPES,
    OPPORTUNITY_FIELDS,
    OPPORTUNITY_TYPES,
    PARTICIPATION_TYPES,
    fold_history,
    fold_participations,
)
from consumers.runtime import Projector
from infra.migrations import Migrations
from schemas.envelope import Event
from schemas.topics import ATTENDANCE, CAMPAIGNS, SIGNUPS

UPSERT_PARTICIPATIONS = """
insert into participations as p (volunteer_id, opportunity_id, campaign_id, signup_status,
    signup_time, signup_event, checked_in_at, checked_out_at, hours, hours_time, hours_event, no_show)
select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
    $7::timestamptz[], $8::timestamptz[], $9::numeric[], $10::timestamptz[], $11::text[], $12::bool[])
on conflict (volunteer_id, opportunity_id) do update set
    signup_status = case when (excluded.signup_time, excluded.signup_event)
        > (coalesce(p.signup_time, '-infinity'), coalesce(p.signup_event, ''))
        then excluded.signup_status else p.signup_status end,
    signup_event = case when (excluded.signup_time, excluded.signup_event)
        > (coalesce(p.signup_time, '-infinity'), coalesce(p.signup_event, ''))
        then excluded.signup_event else p.signup_event end,
    signup_time = case when (excluded.signup_time, excluded.signup_event)
        > (coalesce(p.signup_time, '-infinity'), coalesce(p.signup_event, ''))
        then excluded.signup_time else p.signup_time end,
    checked_in_at = least(p.checked_in_at, excluded.checked_in_at),
    checked_out_at = greatest(p.checked_out_at, excluded.checked_out_at),
    hours = case when (excluded.hours_time, excluded.hours_event)
        > (coalesce(p.hours_time, '-infinity'), coalesce(p.hours_event, ''))
        then excluded.hours else p.hours end,
    hours_event = case when (excluded.hours_time, excluded.hours_event)
        > (coalesce(p.hours_time, '-infinity'), coalesce(p.hours_event, ''))
        then excluded.hours_event else p.hours_event end,
    hours_time = case when (excluded.hours_time, excluded.hours_event)
        > (coalesce(p.hours_time, '-infinity'), coalesce(p.hours_event, ''))
        then excluded.hours_time else p.hours_time end,
    no_show = p.no_show or excluded.no_show
"""


async def apply_participations(conn: asyncpg.Connection, events: Sequence[Event[Any]]) -> None:
    """Fold the batch per pair in Python, then one set-based upsert with the same rules."""
    rows = list(fold_participations(events).values())
    if not rows:
        return
    await conn.execute(
        UPSERT_PARTICIPATIONS,
        [r.volunteer_id for r in rows],
        [r.opportunity_id for r in rows],
        [r.campaign_id for r in rows],
        [r.signup_status for r in rows],
        [r.signup_stamp[0] if r.signup_stamp else None for r in rows],
        [r.signup_stamp[1] if r.signup_stamp else None for r in rows],
        [r.checked_in_at for r in rows],
        [r.checked_out_at for r in rows],
        [r.hours for r in rows],
        [r.hours_stamp[0] if r.hours_stamp else None for r in rows],
        [r.hours_stamp[1] if r.hours_stamp else None for r in rows],
        [r.no_show for r in rows],
    )


async def apply_history(conn: asyncpg.Connection, events: Sequence[Event[Any]]) -> None:
    """Store campaign/opportunity events, then refold each touched row from its history."""
    if not events:
        return
    touched: set[tuple[str, str]] = set()
    records = []
    for event in events:
        aggregate = "campaign" if event.type in CAMPAIGN_TYPES else "opportunity"
        aggregate_id = (
            event.data.campaign_id if aggregate == "campaign" else event.data.opportunity_id
        )
        touched.add((aggregate, aggregate_id))
        data = event.data.model_dump(mode="json")
        records.append((event.id, aggregate, aggregate_id, event.time, event.type, data))
    await conn.executemany(
        "insert into history values ($1, $2, $3, $4, $5, $6) on conflict do nothing", records
    )
    rows = await conn.fetch(
        "select aggregate, aggregate_id, event_time, event_id, event_type, data from history"
        " where (aggregate, aggregate_id) in (select * from unnest($1::text[], $2::text[]))",
        [a for a, _ in touched],
        [i for _, i in touched],
    )
    histories: dict[tuple[str, str], list[Any]] = {}
    for r in rows:
        histories.setdefault((r["aggregate"], r["aggregate_id"]), []).append(
            (r["event_time"], r["event_id"], r["event_type"], r["data"])
        )
    for (aggregate, aggregate_id), history in histories.items():
        await _upsert_folded(conn, aggregate, aggregate_id, fold_history(history))


async def _upsert_folded(
    conn: asyncpg.Connection, aggregate: str, key: str, row: dict[str, Any]
) -> None:
    table, id_column, fields = (
        ("campaigns", "campaign_id", CAMPAIGN_FIELDS)
        if aggregate == "campaign"
        else ("opportunities", "opportunity_id", OPPORTUNITY_FIELDS)
    )
    columns = [*fields, "status"]
    values = [row.get(f) for f in fields] + [row["status"]]
    placeholders = ", ".join(f"${i + 2}::text::{_cast(c)}" for i, c in enumerate(columns))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    await conn.execute(
        f"insert into {table} ({id_column}, {', '.join(columns)}) values ($1, {placeholders})"
        f" on conflict ({id_column}) do update set {updates}",
        key,
        *[_text(v) for v in values],
    )


def _cast(column: str) -> str:
    return {
        "starts_on": "date", "ends_on": "date", "starts_at": "timestamptz",
        "ends_at": "timestamptz", "target_volunteers": "int", "target_hours": "int",
        "capacity": "int", "min_age": "int",
    }.get(column, "text")  # fmt: skip


def _text(value: Any) -> str | None:
    """History data is JSON (strings and numbers); PostgreSQL casts the text form."""
    return (
        None if value is None else value if isinstance(value, str) else orjson.dumps(value).decode()
    )


async def apply(conn: asyncpg.Connection, events: Sequence[Event[Any]]) -> None:
    """Apply a batch of fresh, handled events (the runtime has deduplicated them)."""
    await apply_history(conn, [e for e in events if e.type in CAMPAIGN_TYPES | OPPORTUNITY_TYPES])
    await apply_participations(conn, [e for e in events if e.type in PARTICIPATION_TYPES])


PROJECTOR = Projector(
    name="campaigns",
    topics=(CAMPAIGNS.name, SIGNUPS.name, ATTENDANCE.name),
    migrations=Migrations("campaigns", Path(__file__).with_name("sql")),
    apply=apply,
    event_types=CAMPAIGN_TYPES | OPPORTUNITY_TYPES | PARTICIPATION_TYPES,
)
