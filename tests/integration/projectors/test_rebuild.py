"""Rebuilding a read model from the log under load, while dashboards keep reading."""

from __future__ import annotations

import asyncio

import pytest

from consumers.campaigns import PROJECTOR
from consumers.rebuild import rebuild
from consumers.runtime import ProjectorRuntime
from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from tests.support.projectors import (
    create_prefixed_topics,
    end_offsets,
    read_participations,
    wait_caught_up,
)
from tests.support.streams import build_stream, publish

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


async def test_rebuild_under_load_swaps_in_an_exact_model_without_interrupting_readers(
    stack: Settings, unique: str
) -> None:
    """Live projector + publisher + dashboard reader running; rebuild swaps in the same result."""
    prefix, schema = f"rb.{unique}.", f"rb_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(30_000, seed=9, volunteers=5_000, opportunities=60)
    half = len(stream.records) // 2
    producer = build_producer(stack)
    await producer.start()
    await publish(producer, stream, prefix, 0, half)
    live = ProjectorRuntime(
        PROJECTOR,
        stack,
        schema=schema,
        group_id=f"rb-{unique}",
        topic_prefix=prefix,
        max_records=1000,
    )
    await live.start()
    live_task = asyncio.create_task(live.run())
    conn = await connect(stack)
    await wait_caught_up(
        conn, schema, await end_offsets(stack, [prefix + t for t in PROJECTOR.topics]), wait_s=60
    )

    reads: list[int] = []
    errors: list[BaseException] = []
    reading = True

    async def dashboard() -> None:
        reader = await connect(stack)
        try:
            while reading:
                try:
                    reads.append(
                        await reader.fetchval(f'select count(*) from "{schema}".campaign_stats')
                    )
                except Exception as exc:
                    errors.append(exc)
                await asyncio.sleep(0.02)
        finally:
            await reader.close()

    async def more_events() -> None:
        for start in range(half, len(stream.records), 1_000):
            await publish(producer, stream, prefix, start, start + 1_000)
            await asyncio.sleep(0.05)

    progress: list[tuple[int, int]] = []
    reader_task = asyncio.create_task(dashboard())
    feeding = asyncio.create_task(more_events())
    try:
        report = await rebuild(
            stack,
            PROJECTOR,
            schema=schema,
            topic_prefix=prefix,
            progress=lambda d, t: progress.append((d, t)),
        )
        await feeding
        await wait_caught_up(
            conn,
            schema,
            await end_offsets(stack, [prefix + t for t in PROJECTOR.topics]),
            wait_s=60,
        )
        reading = False
        await reader_task
        assert not errors, f"dashboard reads failed during the rebuild: {errors[:3]}"
        assert len(reads) > 10
        assert report.schema == schema
        assert progress
        assert progress[-1][0] == progress[-1][1]
        stats = await conn.fetchrow(f'select * from "{schema}"._stats')
        assert stats["events_applied"] == stream.unique_valid
        assert stats["dead_lettered"] == stream.invalid
        assert await read_participations(conn, schema) == stream.participations
        assert await conn.fetchval("select to_regnamespace($1)", f"{schema}__old") is None
    finally:
        reading = False
        feeding.cancel()
        live.stopping.set()
        await live_task
        await live.close()
        await producer.stop()
        await conn.close()
