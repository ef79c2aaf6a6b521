"""The campaigns projector against the real Kafka and PostgreSQL."""

from __future__ import annotations

import pytest

from consumers.campaigns import PROJECTOR
from infra.db import connect
from infra.kafka import build_consumer, build_producer
from infra.settings import Settings
from tests.support.projectors import (
    create_prefixed_topics,
    end_offsets,
    read_participations,
    run_until_caught_up,
    running_projector,
    wait_caught_up,
)
from tests.support.streams import build_stream, publish, publish_stream

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_duplicates_reordering_and_bad_records_give_the_expected_model(
    stack: Settings, unique: str
) -> None:
    """Shuffled events with re-sent ids and bad records: each valid event counted once, each bad one dead-lettered once."""
    prefix, schema = f"test.{unique}.", f"test_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(6000, seed=11)
    await publish_stream(stack, stream, prefix)

    running = running_projector(
        PROJECTOR, stack, schema=schema, group_id=f"g-{unique}", topic_prefix=prefix
    )
    async with running:
        conn = await connect(stack)
        try:
            ends = await end_offsets(stack, [prefix + t for t in PROJECTOR.topics])
            await wait_caught_up(conn, schema, ends, wait_s=60)
            stats = await conn.fetchrow(f'select * from "{schema}"._stats')
            assert stats["events_applied"] == stream.unique_valid
            assert stats["duplicates"] == stream.duplicates
            assert stats["dead_lettered"] == stream.invalid
            dead_rows = await conn.fetchval(f'select count(*) from "{schema}"._deadletters')
            assert dead_rows == stream.invalid
            assert await read_participations(conn, schema) == stream.participations
            assert {
                r["campaign_id"]
                for r in await conn.fetch(f'select campaign_id from "{schema}".campaigns')
            } == stream.campaigns
        finally:
            await conn.close()

    consumer = build_consumer(stack, prefix + "tatawwu.deadletter", group_id=f"dlq-{unique}")
    await consumer.start()
    try:
        dead = []
        while len(dead) < stream.invalid:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"only {len(dead)} dead letters on the topic"
            dead += [r for rs in batch.values() for r in rs]
        headers = dict(dead[0].headers)
        assert headers["projector"] == b"campaigns"
        assert {"error", "original_topic", "original_partition", "original_offset"} <= set(headers)
    finally:
        await consumer.stop()


async def test_a_restarted_projector_resumes_from_postgres_offsets(
    stack: Settings, unique: str
) -> None:
    """Stop after part of the stream, publish the rest, restart: the result equals one clean run."""
    prefix, schema = f"test.{unique}.", f"test_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(4000, seed=5)
    half = len(stream.records) // 2
    producer = build_producer(stack)
    await producer.start()
    conn = await connect(stack)
    try:
        await publish(producer, stream, prefix, 0, half)
        for second_half in (False, True):
            if second_half:
                await publish(producer, stream, prefix, half)
            await run_until_caught_up(stack, {"campaigns": PROJECTOR}, {"campaigns": schema},
                                      prefix, group=f"g-{unique}", wait_s=60)  # fmt: skip
        stats = await conn.fetchrow(f'select * from "{schema}"._stats')
        assert stats["events_applied"] == stream.unique_valid
        assert stats["dead_lettered"] == stream.invalid
        assert await read_participations(conn, schema) == stream.participations
    finally:
        await producer.stop()
        await conn.close()
