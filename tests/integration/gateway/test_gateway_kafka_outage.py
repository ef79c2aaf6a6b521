"""Kafka stopped mid-test (a private single-node cluster): 503 fast, then a retry lands whole."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from aiokafka import TopicPartition
from gateway_helpers import Partner, new_partner
from pydantic import SecretStr

from infra.kafka import build_consumer, ensure_topics
from infra.local.kafka import CONTROLLER_PORT_OFFSET, KafkaCluster
from infra.settings import Settings
from producers.gateway import create_app
from schemas.registry import spec_for
from schemas.topics import BY_NAME
from tests.support.ports import free_ports_below_ephemeral

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

PRODUCE_TIMEOUT_S = 2.0
TOPIC = spec_for("volunteer.registered").topic.name


@pytest.fixture(scope="module")
async def private_kafka(stack: Settings) -> AsyncIterator[tuple[KafkaCluster, Settings]]:
    """A single-node cluster of our own, with the topics, destroyed at the end.

    Its broker and controller (port + 10000) ports are picked free at run time, below the
    ephemeral range: the broker is stopped and started again mid-test.
    """
    port = free_ports_below_ephemeral(0, CONTROLLER_PORT_OFFSET)
    cluster = KafkaCluster(stack.cache_dir.resolve(), port=port, brokers=1, heap="384m")
    try:
        await asyncio.to_thread(cluster.start)
        settings = stack.model_copy(update={
            "kafka_bootstrap": cluster.bootstrap,
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_username": "admin",
            "kafka_sasl_password": SecretStr(cluster.admin_password()),
            "gateway_produce_timeout_s": PRODUCE_TIMEOUT_S,
            "gateway_key_cache_s": 0.0,
        })  # fmt: skip
        await ensure_topics(settings)
        yield cluster, settings
    finally:
        await asyncio.to_thread(cluster.destroy)


async def all_ids(settings: Settings) -> list[str]:
    """Every event id on the volunteers topic, duplicates included."""
    consumer = build_consumer(settings)
    await consumer.start()
    ids: list[str] = []
    try:
        partitions = [TopicPartition(TOPIC, p) for p in range(BY_NAME[TOPIC].partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        while [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            batches = await consumer.getmany(timeout_ms=1000)
            ids += [orjson.loads(r.value)["id"] for records in batches.values() for r in records]
    finally:
        await consumer.stop()
    return ids


async def test_kafka_down_gives_503_quickly_and_the_retried_batch_lands_whole(
    private_kafka: tuple[KafkaCluster, Settings], unique: str
) -> None:
    """While Kafka is stopped: 503 + Retry-After within the produce timeout; after: retry lands."""
    cluster, settings = private_kafka
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        partner: Partner = await new_partner(app, unique)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            first = [partner.event("volunteer.registered", n) for n in range(5)]
            second = [partner.event("volunteer.registered", n) for n in range(5, 15)]
            ok = await client.post(
                "/v1/events", content=orjson.dumps(first), headers=partner.headers
            )
            assert ok.status_code == 202, ok.text

            await asyncio.to_thread(cluster.stop_node, 1)
            began = time.monotonic()
            down = await client.post(
                "/v1/events", content=orjson.dumps(second), headers=partner.headers
            )
            elapsed = time.monotonic() - began
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == "application/problem+json"
            assert int(down.headers["retry-after"]) >= 1
            assert elapsed < PRODUCE_TIMEOUT_S + 1.5
            ready = await client.get("/ready")
            assert ready.status_code == 503
            assert ready.json()["checks"]["kafka"]["ok"] is False
            assert (await client.get("/health")).status_code == 200  # alive: not to be restarted

            await asyncio.to_thread(cluster.start_node, 1)
            await asyncio.to_thread(cluster.wait_node, 1)
            deadline = time.monotonic() + 60
            while True:  # the partner's retry loop: same batch, same ids
                retry = await client.post(
                    "/v1/events", content=orjson.dumps(second), headers=partner.headers
                )
                if retry.status_code == 202 or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert retry.status_code == 202, retry.text

    ids = await all_ids(settings)
    expected = {e["id"] for e in first + second}
    # Deduplicating by id, as every projector does, yields exactly the two batches: nothing
    # missing, nothing foreign. The 503 batch may appear twice (its first attempt can still
    # be delivered once Kafka returns), always under the same ids.
    assert set(ids) == expected
    counts = Counter(ids)
    assert all(counts[e["id"]] == 1 for e in first)  # acknowledged once, never re-sent
    assert all(1 <= counts[e["id"]] <= 2 for e in second)
