"""The router's counts in PostgreSQL: accepted and refused per organisation and rule, exact.

Kafka commits the forwarding (the transaction holds the sends and the consumed offsets);
PostgreSQL keeps the counts, updated in one transaction right before the Kafka commit,
together with the next offset counted per partition. A batch replayed after a crash
between the two commits (or an aborted Kafka commit) is forwarded again but counted
once: only records at or past the stored next offset are counted. `router_status` is
what `tatawwu partners status` shows: per organisation, its ingress topic's end offset,
the router group's committed offset (the lag), and the counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import asyncpg

from consumers.router.plan import ACCEPTED, Tally
from consumers.runtime.batch import Dead
from consumers.runtime.bookkeeping import store_dead_letters
from infra.db import execute_locked, prefixed_schema
from infra.ingress import ROUTER_GROUP
from infra.kafka import build_admin, end_offsets
from infra.settings import Settings
from schemas.topics import INGRESS_PREFIX, org_of_ingress

SCHEMA = "router"
GROUP = ROUTER_GROUP

_DDL = """
create schema if not exists "{schema}";
create table if not exists "{schema}".router_counts (
    org     text   not null,
    outcome text   not null,
    rule    text   not null,
    count   bigint not null,
    primary key (org, outcome, rule)
);
create table if not exists "{schema}".router_offsets (
    topic           text    not null,
    kafka_partition integer not null,
    next_offset     bigint  not null,
    primary key (topic, kafka_partition)
);
-- The same table as each projector's (`consumers/sql/0001_bookkeeping.sql`), so that
-- `tatawwu dlq list` shows the router's dead letters with theirs.
create table if not exists "{schema}"._deadletters (
    topic           text    not null,
    kafka_partition integer not null,
    kafka_offset    bigint  not null,
    reason          text    not null,
    detail          text    not null,
    event_id        text,
    event_type      text,
    dead_at         timestamptz not null default now(),
    primary key (topic, kafka_partition, kafka_offset)
);
"""


def schema_for(topic_prefix: str = "") -> str:
    """The counts' schema: `router`, or one per topic prefix (tests)."""
    return prefixed_schema(SCHEMA, topic_prefix)


def group_for(topic_prefix: str = "") -> str:
    """The router's consumer group (prefixed in tests)."""
    return topic_prefix + GROUP


async def ensure_tables(conn: asyncpg.Connection, schema: str) -> None:
    """Create the schema and tables when missing (idempotent, advisory-locked)."""
    await execute_locked(conn, f"router:{schema}", _DDL.format(schema=schema))


async def record_counts(
    conn: asyncpg.Connection, schema: str, tallies: Sequence[Tally], dead: Sequence[Dead] = ()
) -> int:
    """Count the tallies not counted before; advance the next offsets; list the dead
    letters (once per origin). Returns how many records were counted.

    Run inside the caller's transaction, right before the Kafka commit.
    """
    if dead:
        await conn.execute(f'set local search_path to "{schema}"')
        await store_dead_letters(conn, dead)
    if not tallies:
        return 0
    topics = sorted({t.topic for t in tallies})
    rows = await conn.fetch(
        f'select topic, kafka_partition, next_offset from "{schema}".router_offsets'
        " where topic = any($1::text[]) for update",
        topics,
    )
    stored = {(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}
    counts: dict[tuple[str, str, str], int] = defaultdict(int)
    nexts: dict[tuple[str, int], int] = {}
    fresh = 0
    for t in tallies:
        where = (t.topic, t.partition)
        if t.offset < stored.get(where, 0):
            continue  # counted by a batch whose Kafka commit did not happen
        counts[(t.org, t.outcome, t.rule)] += 1
        nexts[where] = max(nexts.get(where, 0), t.offset + 1)
        fresh += 1
    if counts:
        await conn.executemany(
            f'insert into "{schema}".router_counts (org, outcome, rule, count)'
            " values ($1, $2, $3, $4) on conflict (org, outcome, rule)"
            " do update set count = router_counts.count + excluded.count",
            [(*key, n) for key, n in sorted(counts.items())],
        )
        await conn.executemany(
            f'insert into "{schema}".router_offsets (topic, kafka_partition, next_offset)'
            " values ($1, $2, $3) on conflict (topic, kafka_partition)"
            " do update set next_offset = greatest(router_offsets.next_offset,"
            " excluded.next_offset)",
            [(*where, n) for where, n in sorted(nexts.items())],
        )
    return fresh


async def read_counts(conn: asyncpg.Connection, schema: str) -> dict[str, dict[str, Any]]:
    """Per organisation: accepted, and refused by rule."""
    found: dict[str, dict[str, Any]] = {}
    if not await conn.fetchval("select to_regclass($1)", f'"{schema}".router_counts'):
        return found
    for r in await conn.fetch(f'select org, outcome, rule, count from "{schema}".router_counts'):
        entry = found.setdefault(r["org"], {"accepted": 0, "refused": {}})
        if r["outcome"] == ACCEPTED:
            entry["accepted"] += r["count"]
        else:
            entry["refused"][r["rule"]] = r["count"]
    return found


async def router_status(settings: Settings, topic_prefix: str = "") -> list[dict[str, Any]]:
    """Per direct partner: ingress topic, end offset, router's committed offset and lag,
    accepted and refused (by rule) counts. Sorted by organisation."""
    from infra.db import connect

    admin = build_admin(settings)
    await admin.start()
    try:
        head = topic_prefix + INGRESS_PREFIX
        topics = [t for t in await admin.list_topics() if t.startswith(head)]
        committed = await admin.list_consumer_group_offsets(group_for(topic_prefix))
    finally:
        await admin.close()
    ends = await end_offsets(settings, topics=topics) if topics else {}
    conn = await connect(settings)
    try:
        counts = await read_counts(conn, schema_for(topic_prefix))
    finally:
        await conn.close()
    rows: dict[str, dict[str, Any]] = {}
    for topic in topics:
        org = org_of_ingress(topic, topic_prefix) or topic
        rows[org] = {"org": org, "topic": topic, "exists": True, "end_offset": 0, "committed": 0}
    for tp, end in ends.items():
        row = rows[org_of_ingress(tp.topic, topic_prefix) or tp.topic]
        row["end_offset"] += end
        meta = committed.get(tp)
        row["committed"] += meta.offset if meta is not None and meta.offset >= 0 else 0
    for org, entry in counts.items():
        rows.setdefault(
            org, {"org": org, "topic": head + org, "exists": False, "end_offset": 0, "committed": 0}
        )
        rows[org].update(entry)
    for row in rows.values():
        row.setdefault("accepted", 0)
        row.setdefault("refused", {})
        row["lag"] = max(0, row["end_offset"] - row["committed"])
    return [rows[org] for org in sorted(rows)]
