"""The projector through a PostgreSQL restart and through a rebalance, mid-stream."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterator

import pytest

from consumers import metrics
from consumers.campaigns import PROJECTOR
from infra.db import connect
from infra.kafka import build_producer
from infra.local.postgres import PostgresCluster
from infra.settings import Settings
from tests.support.ports import free_ports_below_ephemeral
from tests.support.projectors import (
    create_prefixed_topics,
    end_offsets,
    read_participations,
    running_projector,
    wait_caught_up,
)
from tests.support.streams import Stream, build_stream, publish

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def own_postgres(stack: Settings) -> Iterator[tuple[Settings, PostgresCluster]]:
    """A PostgreSQL cluster of this test's own, so restarting it disturbs no one.

    Its port is picked free at run time, below the ephemeral range (it is restarted).
    """
    port = free_ports_below_ephemeral()
    cluster = PostgresCluster(stack.cache_dir.resolve() / "pg-restart-test", port=port)
    cluster.stop()  # one left by a run that died would be on that run's port
    cluster.start()
    try:
        yield stack.model_copy(update={"database_url": cluster.url}), cluster
    finally:
        cluster.stop()


async def feed(settings: Settings, stream: Stream, prefix: str, pause: float) -> None:
    producer = build_producer(settings)
    await producer.start()
    try:
        for start in range(0, len(stream.records), 2_000):
            await publish(producer, stream, prefix, start, start + 2_000)
            await asyncio.sleep(pause)
    finally:
        await producer.stop()


async def assert_exact(settings: Settings, schema: str, stream: Stream, prefix: str) -> None:
    conn = await connect(settings)
    try:
        ends = await end_offsets(settings, [prefix + t for t in PROJECTOR.topics])
        await wait_caught_up(conn, schema, ends, wait_s=120)
        stats = await conn.fetchrow(f'select * from "{schema}"._stats')
        assert stats["events_applied"] == stream.unique_valid
        assert stats["dead_lettered"] == stream.invalid
        assert await read_participations(conn, schema) == stream.participations
    finally:
        await conn.close()


async def test_postgres_restart_mid_stream_loses_and_doubles_nothing(
    own_postgres: tuple[Settings, PostgresCluster], unique: str
) -> None:
    """PostgreSQL stopped (immediate, like a crash) and started again while events flow."""
    settings, cluster = own_postgres
    prefix, schema = f"pgr.{unique}.", f"pgr_campaigns_{unique}"
    await create_prefixed_topics(settings, prefix)
    stream = build_stream(30_000, seed=3, volunteers=5_000, opportunities=80)
    retries_before = metrics.RETRIES.labels("campaigns")._value.get()
    running = running_projector(
        PROJECTOR, settings, schema=schema, group_id=f"pgr-{unique}", topic_prefix=prefix
    )
    async with running:
        feeding = asyncio.create_task(feed(settings, stream, prefix, pause=0.2))
        await asyncio.sleep(1.0)
        for _ in range(2):
            await asyncio.to_thread(cluster.stop, "immediate")
            await asyncio.sleep(1.5)
            await asyncio.to_thread(cluster.start)
            await asyncio.sleep(1.0)
        await feeding
        await assert_exact(settings, schema, stream, prefix)
        # The outage was felt: batches failed and were retried from the stored offsets.
        assert metrics.RETRIES.labels("campaigns")._value.get() > retries_before


async def test_a_second_instance_joining_mid_stream_loses_and_doubles_nothing(
    stack: Settings, unique: str
) -> None:
    """A rebalance while batches are in flight: both members apply, nothing twice."""
    prefix, schema, group = f"reb.{unique}.", f"reb_campaigns_{unique}", f"reb-{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(40_000, seed=4, volunteers=8_000, opportunities=80)
    member = functools.partial(running_projector, PROJECTOR, stack, schema=schema,
                               group_id=group, topic_prefix=prefix, max_records=500)  # fmt: skip
    async with member() as first:
        feeding = asyncio.create_task(feed(stack, stream, prefix, pause=0.1))
        await asyncio.sleep(1.5)
        async with member() as second:
            await feeding
            await asyncio.sleep(2)
            assert first._consumer.assignment(), "the first member lost every partition"
            assert second._consumer.assignment(), "no rebalance gave the second member partitions"
            await assert_exact(stack, schema, stream, prefix)
