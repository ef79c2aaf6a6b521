"""Apply events to a fresh projector schema exactly as the runtime does, and read it back."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from consumers.runtime import Projector, prepare_schema
from infra.db import connect
from infra.settings import Settings
from schemas.envelope import Event

# The runtime's own tables (named with a leading underscore: offsets, seen ids, dead
# letters, claims...) and the migration ledger are not part of the read model.
MIGRATION_LEDGER = "tatawwu_schema_migrations"
# Columns stamped with the clock when a row is written (the ledger's insertion time and
# its first due time, `now()`): they differ from run to run by design.
CLOCK_COLUMNS = frozenset({("outbox", "created_at"), ("outbox", "next_attempt_at")})
# The notifier's memory of what it has observed, not a model of the facts: `seats` records
# who it has seen placed, so that a move from the waiting list is told once; what it sees
# depends on how the facts were batched (consumers/notifications/waitlist.py). Known limit.
# `alert_days` likewise: which of a volunteer's opportunities took the day's alert and
# which wait in the next day's digest follows the order the publications were applied in.
OBSERVED_TABLES = frozenset({"seats", "alert_days"})
OBSERVED_COLUMNS = frozenset({("alerted_opportunities", "volunteers")})
# For the same reason the messages those observations cause: a `waitlist_promoted` email
# and SMS go out when the notifier sees a pair move from waiting to placed, and a batch
# that brings the withdrawal and the waiting sign-up together shows no move. An
# `opportunity_alert` goes to whoever matches when the publication is applied (and to
# whoever comes to match later, their facts late); one who matched then and no longer
# does (moved away since) keeps it. A message once sent cannot follow a late fact back,
# so they are kept out of the comparison (the rows a `where` keeps); `phantom_promotions`
# and `alert_problems` check what holds in any delivery.
OBSERVED_ROWS = {"outbox": "template not in ('waitlist_promoted', 'opportunity_alert')"}
Snapshot = dict[str, list[str]]  # table -> its rows as JSON text, sorted


@dataclass(frozen=True)
class Database:
    """One of the two databases; each example takes its own connection to it."""

    settings: Settings
    name: str | None = None  # None: the stack's own database

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A fresh connection, so an example cut short cannot leave one busy for the next."""
        conn = await connect(self.settings, **({"database": self.name} if self.name else {}))
        try:
            yield conn
        finally:
            await conn.close()


async def apply_batch(
    conn: asyncpg.Connection, projector: Projector, schema: str, batch: Sequence[Event[Any]]
) -> None:
    """One batch in one transaction: precompute over the whole batch, apply the handled events."""
    pre = None
    if projector.precompute is not None:
        accumulator = projector.precompute()
        accumulator.add(batch)
        pre = accumulator.result()
    handled = [e for e in batch if e.type in projector.event_types]
    if not handled:
        return
    async with conn.transaction():
        await conn.execute(f'set local search_path to "{schema}"')
        if pre is None:
            await projector.apply(conn, handled)
        else:
            await projector.apply(conn, handled, pre)


async def snapshot(conn: asyncpg.Connection, schema: str) -> Snapshot:
    """Every read-model table's full contents, each row as JSON text, sorted."""
    columns = await conn.fetch(
        "select c.table_name, c.column_name from information_schema.columns c"
        " join information_schema.tables t using (table_schema, table_name)"
        " where c.table_schema = $1 and t.table_type = 'BASE TABLE'"
        " order by c.table_name, c.ordinal_position",
        schema,
    )
    tables: dict[str, list[str]] = {}
    for r in columns:
        table, column = r["table_name"], r["column_name"]
        if (table.startswith("_") or table == MIGRATION_LEDGER or table in OBSERVED_TABLES
                or (table, column) in CLOCK_COLUMNS | OBSERVED_COLUMNS):  # fmt: skip
            continue
        tables.setdefault(table, []).append(column)
    result: Snapshot = {}
    for table, names in tables.items():
        cols = ", ".join(f'"{n}"' for n in names)
        where = f" where {OBSERVED_ROWS[table]}" if table in OBSERVED_ROWS else ""
        rows = await conn.fetch(
            f"select row_to_json(t)::text as r"
            f' from (select {cols} from "{schema}"."{table}"{where}) t'
        )
        result[table] = sorted(r["r"] for r in rows)
    return result


async def phantom_promotions(conn: asyncpg.Connection, schema: str) -> list[str]:
    """Promotion messages that name no signed-up pair of the facts, or more than one per
    pair, channel and observed move (what holds however the facts were batched)."""
    if not await conn.fetchval("select to_regclass($1)", f'"{schema}".outbox'):
        return []
    rows = await conn.fetch(
        f"""select o.volunteer_id || ' ' || (o.context->>'opportunity_id') as pair
        from "{schema}".outbox o
        where o.template = 'waitlist_promoted' and not exists (
            select 1 from "{schema}".participations p
            where p.volunteer_id = o.volunteer_id
              and p.opportunity_id = o.context->>'opportunity_id')
        union all
        select volunteer_id || ' ' || (context->>'opportunity_id') || ' x' || count(*)
        from "{schema}".outbox where template = 'waitlist_promoted'
        group by volunteer_id, context->>'opportunity_id', channel, notification_id
        having count(*) > 1"""
    )
    return [r["pair"] for r in rows]


async def alert_problems(conn: asyncpg.Connection, schema: str) -> list[str]:
    """What no delivery order may leave: a volunteer the final facts say is alerted of an
    opportunity (matching it now, alerts consent on now and at its publication's time) and
    was not; a volunteer alerted twice of one opportunity; an alert day without its message."""
    if not await conn.fetchval("select to_regclass($1)", f'"{schema}".alert_days'):
        return []
    rows = await conn.fetch(
        f"""select 'missed ' || c.volunteer_id || ' ' || o.opportunity_id as problem
        from "{schema}".contacts c
        join "{schema}".opportunities o on o.municipality = c.municipality
        join "{schema}".alerted_opportunities a on a.opportunity_id = o.opportunity_id
        where c.status = 'registered' and (c.consent ->> 'alerts') = 'true'
          and c.alerts_on @> a.alerted_at and o.status = 'published' and o.starts_at > now()
          and c.birth_year <= extract(year from o.starts_at at time zone 'Asia/Qatar') - o.min_age
          and not exists (select 1 from "{schema}".alert_days d
              where d.volunteer_id = c.volunteer_id and o.opportunity_id = any(d.opportunity_ids))
        union all
        select 'twice ' || volunteer_id || ' ' || opportunity_id
        from "{schema}".alert_days, unnest(opportunity_ids) as opportunity_id
        group by volunteer_id, opportunity_id having count(*) > 1
        union all
        select 'no message ' || d.notification_id from "{schema}".alert_days d
        where not exists (select 1 from "{schema}".outbox o
            where o.notification_id = d.notification_id)"""
    )
    return [r["problem"] for r in rows]


class Schemas:
    """Fresh projector schemas for one test, each dropped when done."""

    def __init__(self, conn: asyncpg.Connection, prefix: str) -> None:
        self.conn = conn
        self.prefix = prefix

    async def fresh(self, projector: Projector) -> str:
        schema = f"{self.prefix}_{projector.name}_{uuid.uuid4().hex[:8]}"
        await prepare_schema(self.conn, projector, schema)
        return schema

    async def drop(self, schema: str) -> None:
        await self.conn.execute(f'drop schema if exists "{schema}" cascade')


def difference(expected: Snapshot, actual: Snapshot) -> str:
    """What differs between two snapshots, table by table (for assertion messages)."""
    lines = []
    for table in sorted(set(expected) | set(actual)):
        old, new = set(expected.get(table, [])), set(actual.get(table, []))
        if old != new:
            lines.append(f"{table}:")
            lines += [f"  - {row}" for row in sorted(old - new)]
            lines += [f"  + {row}" for row in sorted(new - old)]
    return "\n".join(lines)
