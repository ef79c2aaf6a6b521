"""Projector benchmark parts (a) and (b): the ceilings and the naive baseline.

(a) raw aiokafka `getmany` with no processing, and raw PostgreSQL `COPY` of as many
participation rows; (b) a plain FastStream subscriber, one autocommitted upsert per event.
Run by `benchmarks.bench_projectors`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time

from aiokafka import TopicPartition

from benchmarks.support import PROJECTOR_TOPICS as TOPICS
from benchmarks.support import ROOT
from consumers.participations import upsert_participations
from infra.db import connect
from infra.kafka import build_broker, build_consumer
from infra.settings import Settings
from schemas.decode import decode_event
from schemas.errors import DecodeError


async def ceiling_getmany(settings: Settings, prefix: str, total: int) -> float:
    """Records/s of raw `getmany` over the run's topics, from the beginning, no processing."""
    consumer = build_consumer(settings, fetch_max_bytes=16 << 20, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        tps = [
            TopicPartition(prefix + t, p) for t in TOPICS for p in range(6 if t != TOPICS[0] else 3)
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        began, seen = time.perf_counter(), 0
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(v) for v in batch.values())
        return seen / (time.perf_counter() - began)
    finally:
        await consumer.stop()


async def ceiling_copy(settings: Settings, rows: int) -> float:
    """Rows/s of one `COPY` of participation-shaped rows into a temporary table."""
    conn = await connect(settings)
    try:
        await conn.execute("create temp table bench_copy (volunteer_id text, opportunity_id text,"
                           " campaign_id text, checked_in_at timestamptz, hours numeric)")  # fmt: skip
        now = dt.datetime.now(dt.UTC)
        records = [(f"vol-{i}", f"opp-{i % 500}", f"cmp-{i % 50}", now, 2.5) for i in range(rows)]
        began = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("bench_copy", records=records)
        return rows / (time.perf_counter() - began)
    finally:
        await conn.close()


async def naive(settings: Settings, prefix: str, limit: int, schema: str) -> float:
    """A plain FastStream subscriber: decode, one upsert per event, autocommitted."""
    from faststream.kafka import KafkaMessage

    conn = await connect(settings)
    await conn.execute(f'create schema "{schema}"; set search_path to "{schema}"')
    for path in sorted((ROOT / "consumers/sql_participations").glob("*.sql")):
        await conn.execute(path.read_text())
    broker = build_broker(settings, logger=None)  # no per-message log lines: a fair baseline
    done = asyncio.Event()
    count = 0

    @broker.subscriber(
        *[prefix + t for t in TOPICS], group_id=f"naive-{schema}", auto_offset_reset="earliest"
    )
    async def handle(msg: KafkaMessage) -> None:
        nonlocal count
        event = decode_event(msg.body)
        if not isinstance(event, DecodeError) and event.type.startswith("volunteer."):
            await upsert_participations(conn, [event])
        count += 1
        if count >= limit:
            done.set()

    began = time.perf_counter()
    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
        return count / (time.perf_counter() - began)
    finally:
        await broker.stop()
        await conn.execute(f'drop schema "{schema}" cascade')
        await conn.close()
