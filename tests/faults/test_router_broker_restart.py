"""The router through a broker restart mid-stream (a private single-node cluster)."""

from __future__ import annotations

import asyncio
import functools
import time
from collections import Counter
from collections.abc import AsyncIterator

import orjson
import pytest

from consumers.router import metrics, router_status
from infra.local.kafka import CONTROLLER_PORT_OFFSET, KafkaCluster
from infra.settings import Settings
from schemas.topics import DEADLETTER
from tests.support.ports import free_ports_below_ephemeral
from tests.support.projectors import create_prefixed_topics
from tests.support.router import (
    committed_offsets,
    create_ingress,
    ingress_stream,
    produce,
    read_all,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

ORGS = 3
PER_ORG = 2_000
CANONICAL = ("tatawwu.campaigns", "tatawwu.volunteers", "tatawwu.signups")


@pytest.fixture(scope="module")
async def private_kafka(stack: Settings) -> AsyncIterator[tuple[KafkaCluster, Settings]]:
    """A single-node cluster of our own (stopped and started mid-test), destroyed after.

    Ports picked free at run time, below the ephemeral range (the broker comes back on
    the same address).
    """
    port = free_ports_below_ephemeral(0, CONTROLLER_PORT_OFFSET)
    cluster = KafkaCluster(stack.cache_dir.resolve() / "router-restart", port=port, brokers=1,
                           heap="384m")  # fmt: skip
    try:
        await asyncio.to_thread(cluster.start)
        yield cluster, stack.model_copy(update={"kafka_bootstrap": cluster.bootstrap})
    finally:
        await asyncio.to_thread(cluster.destroy)


async def test_a_broker_restart_mid_stream_loses_nothing_and_duplicates_nothing(
    private_kafka: tuple[KafkaCluster, Settings], unique: str
) -> None:
    """The broker stops while the router forwards and comes back: every accepted id once
    on the canonical topics (read committed), every refusal once, counts exact."""
    cluster, settings = private_kafka
    prefix = f"rr{unique}."
    await create_prefixed_topics(settings, prefix)
    orgs = [f"org{n}-{unique}" for n in range(ORGS)]
    topics = await create_ingress(settings, prefix, orgs)
    stream = ingress_stream(orgs, unique, PER_ORG)
    half = PER_ORG // 2
    for org, topic in zip(orgs, topics, strict=True):
        await produce(settings, topic, stream.records[org][:half])
    aborted = metrics.BATCHES.labels("aborted")._value.get()
    async with running_router(settings, prefix, max_records=100) as router:
        # Slowed (20 ms a batch) so that the stream is still flowing when the broker stops.
        router.transactor.before_commit_hook = functools.partial(time.sleep, 0.02)
        while True:
            if sum((await committed_offsets(settings, prefix)).values()) >= 500:
                break
            await asyncio.sleep(0.05)
        routed_before = sum(router.committed.values())
        await asyncio.to_thread(cluster.stop_node, 1)  # mid-stream: batches in flight fail
        await asyncio.sleep(0.5)
        await asyncio.to_thread(cluster.start_node, 1)
        await asyncio.to_thread(cluster.wait_node, 1)
        for org, topic in zip(orgs, topics, strict=True):
            await produce(settings, topic, stream.records[org][half:])
        await wait_routed(settings, prefix, topics, 90)
        failures = router.failures
    # Batches failed while the broker was away, and were forwarded after all.
    assert metrics.BATCHES.labels("aborted")._value.get() > aborted
    assert routed_before < ORGS * half  # the restart landed mid-stream
    assert failures == 0  # recovered: the last batches committed
    forwarded = await read_all(settings, [prefix + t for t in CANONICAL])
    ids = Counter(orjson.loads(r.value)["id"] for r in forwarded)
    assert set(ids) == set().union(*stream.accepted.values())
    assert [i for i, n in ids.items() if n > 1] == []
    letters = await read_all(settings, [prefix + DEADLETTER.name])
    dead = Counter(orjson.loads(r.value)["id"] for r in letters)
    assert set(dead) == set().union(*stream.refused.values())
    assert max(dead.values()) == 1
    status = {row["org"]: row for row in await router_status(settings, prefix)}
    for org in orgs:
        assert status[org]["accepted"] == len(stream.accepted[org])
        assert status[org]["refused"] == {"source": len(stream.refused[org])}
