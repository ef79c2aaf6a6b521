"""Reading test topics back: records from the beginning of partitions, until enough came."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from infra.kafka import build_consumer
from infra.settings import Settings


async def read_from_start(
    settings: Settings,
    partitions: Iterable[TopicPartition],
    count: int,
    *,
    wait_s: float = 10.0,
    poll_ms: int = 250,
) -> list[ConsumerRecord]:
    """The records of these partitions from their beginning (read committed), once at least
    `count` arrived or `wait_s` passed: the caller asserts on what it got."""
    consumer = build_consumer(settings)
    await consumer.start()
    try:
        wanted = list(partitions)
        consumer.assign(wanted)
        await consumer.seek_to_beginning(*wanted)
        found: list[ConsumerRecord] = []
        deadline = asyncio.get_running_loop().time() + wait_s
        while len(found) < count and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=poll_ms, max_records=5000)
            found += [record for records in batch.values() for record in records]
        return found
    finally:
        await consumer.stop()
