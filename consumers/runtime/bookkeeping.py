"""All SQL over a projector's bookkeeping tables, for the runtime and the tools alike.

Every projector keeps, beside its read model and in the same schema (`consumers/sql`):
`_offsets` (the next offset per partition: where to resume), `_events` (identities
applied), `_stats` (counters), `_deadletters` (records it could not process) and
`_parked` (facts waiting for the claim that decides their owner). The runtime works with
`search_path` set to the schema; the tools (`projections status`, `rebuild`, `dlq`, the
read API's freshness) name the schema. Nothing else writes these tables.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import orjson
from aiokafka import TopicPartition

from infra.migrations import Migrations
from infra.migrations import apply as apply_migrations

if TYPE_CHECKING:
    from consumers.runtime.batch import Dead
    from consumers.runtime.projector import Projector

BOOKKEEPING = Migrations("runtime", Path(__file__).parent.parent / "sql")
Executor = asyncpg.Connection | asyncpg.Pool
Origin = tuple[str, int, int]  # topic, partition, offset


def quoted(schema: str) -> str:
    """A schema name as a quoted SQL identifier."""
    return '"' + schema.replace('"', '""') + '"'


def _offsets(rows: Sequence[Any]) -> dict[TopicPartition, int]:
    return {TopicPartition(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}


def _columns(partitions: Sequence[TopicPartition]) -> tuple[list[str], list[int]]:
    return [tp.topic for tp in partitions], [tp.partition for tp in partitions]


# ------------------------------------------------------------- the runtime (search_path)
async def prepare_schema(conn: asyncpg.Connection, projector: Projector, schema: str) -> None:
    """Create the projector's schema with bookkeeping and read-model tables (idempotent)."""
    await conn.execute("select pg_advisory_lock(hashtext($1))", f"schema:{schema}")
    try:
        await conn.execute(f"create schema if not exists {quoted(schema)}")
        await conn.execute(f"set search_path to {quoted(schema)}")
        await apply_migrations(conn, BOOKKEEPING, *projector.migrations)
        if projector.prepare is not None:
            await projector.prepare(conn)
    finally:
        await conn.execute("reset search_path")
        await conn.execute("select pg_advisory_unlock(hashtext($1))", f"schema:{schema}")


async def stored_offsets(
    db: Executor, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """The next offsets stored for these partitions (absent: never applied)."""
    rows = await db.fetch(
        "select topic, kafka_partition, next_offset from _offsets"
        " where (topic, kafka_partition) in (select * from unnest($1::text[], $2::int[]))",
        *_columns(partitions),
    )
    return _offsets(rows)


async def lock_offsets(
    conn: asyncpg.Connection, partitions: Sequence[TopicPartition]
) -> dict[TopicPartition, int]:
    """Lock these partitions' offset rows (created at 0 if new) and return their offsets."""
    # One round trip: insert the rows never seen, and lock every row (an ON CONFLICT
    # update that changes nothing locks the row like FOR UPDATE and, in READ COMMITTED,
    # returns its latest committed offset once a concurrent writer has committed).
    # Sorted, so two members locking the same partitions cannot deadlock.
    rows = await conn.fetch(
        "insert into _offsets as o (topic, kafka_partition)"
        " select * from unnest($1::text[], $2::int[]) order by 1, 2"
        " on conflict (topic, kafka_partition) do update set next_offset = o.next_offset"
        " returning topic, kafka_partition, next_offset",
        *_columns(sorted(partitions)),
    )
    return _offsets(rows)


async def record_identities(conn: asyncpg.Connection, identities: list[str]) -> set[str]:
    """Insert event identities; return those never recorded before."""
    rows = await conn.fetch(
        # One JSON document, not a text[]: asyncpg's array encoder costs ~2 µs an element.
        "insert into _events (event_id) select jsonb_array_elements_text($1::text::jsonb)"
        " on conflict do nothing returning event_id",
        orjson.dumps(identities).decode(),
    )
    return {r["event_id"] for r in rows}


async def forget_identities(conn: asyncpg.Connection, identities: list[str]) -> None:
    """Forget identities, so the same events are judged and applied again when replayed."""
    if identities:
        await conn.execute("delete from _events where event_id = any($1::text[])", identities)


async def store_dead_letters(conn: asyncpg.Connection, dead: Sequence[Dead]) -> int:
    """Record dead letters by origin; return how many were not recorded before."""
    rows = await conn.fetch(
        "insert into _deadletters (topic, kafka_partition, kafka_offset, reason, detail, event_id, event_type)"
        " select * from unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])"
        " on conflict do nothing returning kafka_offset",
        [d.record.topic for d in dead],
        [d.record.partition for d in dead],
        [d.record.offset for d in dead],
        [d.reason for d in dead],
        [d.detail for d in dead],
        [d.event_id for d in dead],
        [d.event_type for d in dead],
    )
    return len(rows)


async def park(conn: asyncpg.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Park facts: (topic, partition, offset, needs kind, needs id, identity, record JSON)."""
    await conn.execute(
        "insert into _parked (topic, kafka_partition, kafka_offset, needs_kind, needs_id,"
        " event_identity, record)"
        " select r->>0, (r->>1)::int, (r->>2)::bigint, r->>3, r->>4, r->>5, r->6"
        " from jsonb_array_elements($1::text::jsonb) as r on conflict do nothing",
        orjson.dumps(rows).decode(),
    )


async def unpark(conn: asyncpg.Connection, registry: str, since: int | None = None) -> list[Any]:
    """Take out the parked records whose claim the registry now holds (as stored JSON):
    among the claims made from transaction `since` on (`infra.claims.claims_mark`), or
    all of them (None). Looking at the new claims only keeps a batch's cost flat however
    many facts wait for claims that never come (a partner's facts for an unknown
    campaign would otherwise be joined to the registry on every batch)."""
    recent = "" if since is None else " and c.made_in >= $1::text::xid8"
    rows = await conn.fetch(
        f"delete from _parked p using {quoted(registry)}.claims c"
        f" where c.kind = p.needs_kind and c.id = p.needs_id{recent} returning p.record",
        *(() if since is None else (str(since),)),
    )
    return [r["record"] for r in rows]


async def any_parked(conn: asyncpg.Connection) -> bool:
    """Whether any fact is parked."""
    return bool(await conn.fetchval("select exists(select from _parked)"))


async def store_progress(
    conn: asyncpg.Connection,
    offsets: dict[TopicPartition, int],
    counts: tuple[int, int, int, int],
    last_event_time: dt.datetime | None,
) -> None:
    """Store the next offsets and add a batch's counts (applied, duplicates, ignored, dead)."""
    if offsets:
        tps = list(offsets)
        await conn.execute(
            "update _offsets o set next_offset = v.next, updated_at = now()"
            " from unnest($1::text[], $2::int[], $3::bigint[]) as v(topic, part, next)"
            " where o.topic = v.topic and o.kafka_partition = v.part",
            *_columns(tps),
            [offsets[tp] for tp in tps],
        )
    await conn.execute(
        "update _stats set events_applied = events_applied + $1, duplicates = duplicates + $2,"
        " ignored = ignored + $3, dead_lettered = dead_lettered + $4, batches = batches + 1,"
        " last_event_time = greatest(last_event_time, $5), last_applied_at = now()",
        *counts,
        last_event_time,
    )


async def advance_offsets(db: asyncpg.Pool, offsets: dict[TopicPartition, int]) -> None:
    """Move stored next offsets forward to `offsets` (never back), outside any batch."""
    tps = list(offsets)
    await db.execute(
        "update _offsets o set next_offset = v.next, updated_at = now()"
        " from unnest($1::text[], $2::int[], $3::bigint[]) as v(topic, part, next)"
        " where o.topic = v.topic and o.kafka_partition = v.part and o.next_offset < v.next",
        *_columns(tps),
        [offsets[tp] for tp in tps],
    )


# ------------------------------------------------------------- the tools (schema named)
@dataclass(frozen=True)
class Progress:
    """A projector's counters and stored offsets."""

    events_applied: int
    duplicates: int
    dead_lettered: int
    last_event_time: dt.datetime | None
    last_applied_at: dt.datetime | None
    offsets: dict[TopicPartition, int]


async def has_bookkeeping(conn: asyncpg.Connection, schema: str, table: str = "_stats") -> bool:
    """Whether the schema holds this bookkeeping table (a projector ran there)."""
    return await conn.fetchval("select to_regclass($1)", f"{quoted(schema)}.{table}") is not None


async def read_progress(conn: asyncpg.Connection, schema: str) -> Progress | None:
    """The projector's counters and offsets, or None when its schema does not exist."""
    if not await has_bookkeeping(conn, schema):
        return None
    stats = await conn.fetchrow(f"select * from {quoted(schema)}._stats")
    rows = await conn.fetch(
        f"select topic, kafka_partition, next_offset from {quoted(schema)}._offsets"
    )
    return Progress(
        stats["events_applied"], stats["duplicates"], stats["dead_lettered"],
        stats["last_event_time"], stats["last_applied_at"], _offsets(rows),
    )  # fmt: skip


async def read_dead_letters(conn: asyncpg.Connection, schema: str, limit: int) -> list[Any]:
    """The dead letters a projector recorded, oldest first (none if it never ran)."""
    if not await has_bookkeeping(conn, schema, "_deadletters"):
        return []
    return await conn.fetch(
        f"select * from {quoted(schema)}._deadletters order by dead_at limit $1", limit
    )


async def lock_live_offsets(
    conn: asyncpg.Connection, schema: str
) -> dict[TopicPartition, int] | None:
    """Lock a projector's offsets against its writers (until commit) and read them.

    None when the schema holds no projector. The projector running there waits at its
    next batch: call inside a transaction, and keep it short.
    """
    if not await has_bookkeeping(conn, schema, "_offsets"):
        return None
    await conn.execute(f"lock table {quoted(schema)}._offsets in exclusive mode")
    return _offsets(await conn.fetch(f"select * from {quoted(schema)}._offsets"))


async def events_applied(conn: asyncpg.Connection, schema: str) -> int:
    """How many events the projector in this schema applied."""
    return int(await conn.fetchval(f"select events_applied from {quoted(schema)}._stats"))


async def record_replays(conn: asyncpg.Connection, origins: list[Origin]) -> list[Origin]:
    """Note dead letters as replayed (the platform's `dlq_replays`); return the new ones."""
    rows = await conn.fetch(
        "insert into dlq_replays (topic, kafka_partition, kafka_offset)"
        " select * from unnest($1::text[], $2::int[], $3::bigint[]) on conflict do nothing"
        " returning topic, kafka_partition, kafka_offset",
        [o[0] for o in origins], [o[1] for o in origins], [o[2] for o in origins],
    )  # fmt: skip
    return [(r["topic"], r["kafka_partition"], r["kafka_offset"]) for r in rows]
