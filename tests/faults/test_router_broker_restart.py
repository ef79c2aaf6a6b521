"""The router through a broker restart mid-stream (a private single-node cluster)."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from collections.abc import AsyncIterator

import orjson
import pytest
from pydantic import SecretStr

from consumers.dlq import open_letters, read_dead_letters
from consumers.router import router_status
from infra.local.kafka import CONTROLLER_PORT_OFFSET, KafkaCluster
from infra.settings import Settings
from schemas.topics import DEADLETTER
from tests.support.ports import free_ports_below_ephemeral
from tests.support.projectors import create_prefixed_topics
from tests.support.router import (
    create_ingress,
    forwarded_topics,
    ingress_stream,
    produce,
    read_all,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

ORGS = 3
PER_ORG = 2_000
KILL = False  # True: SIGKILL (a crash) instead of a controlled stop; passes too, ~17 s longer


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
        yield cluster, stack.model_copy(update={
            "kafka_bootstrap": cluster.bootstrap,
            # A cluster named by address is external: its security is given, not guessed.
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_username": "admin",
            "kafka_sasl_password": SecretStr(cluster.admin_password()),
        })  # fmt: skip
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
    in_flight, resume = asyncio.Event(), asyncio.Event()
    calls = 0

    async def hold_the_fifth() -> None:
        nonlocal calls
        calls += 1
        if calls == 5:  # sent, offsets added, not committed: the broker goes now
            in_flight.set()
            await resume.wait()

    async with running_router(settings, prefix, max_records=100) as router:
        router.transactor.before_commit_hook = hold_the_fifth
        await in_flight.wait()
        routed_before = sum(router.committed.values())
        await asyncio.to_thread(functools.partial(cluster.stop_node, 1, kill=KILL))
        resume.set()  # the commit meets a stopped broker (aborted, or finished once it is back)
        await asyncio.sleep(0.5)
        await asyncio.to_thread(cluster.start_node, 1)
        await asyncio.to_thread(cluster.wait_node, 1)
        for org, topic in zip(orgs, topics, strict=True):
            await produce(settings, topic, stream.records[org][half:])
        await wait_routed(settings, prefix, topics, 90)
        failures = router.failures
    assert routed_before < ORGS * half  # the restart landed mid-stream, mid-transaction
    assert failures == 0  # recovered: the last batches committed
    forwarded = await read_all(settings, forwarded_topics(prefix))
    ids = Counter(orjson.loads(r.value)["id"] for r in forwarded)
    assert set(ids) == set().union(*stream.accepted.values())
    assert [i for i, n in ids.items() if n > 1] == []
    letters, unreadable = await open_letters(
        settings, await read_dead_letters(settings, prefix + DEADLETTER.name)
    )  # payloads sealed
    assert unreadable == 0
    dead = Counter(orjson.loads(value)["id"] for *_, value, _ in letters)
    assert set(dead) == set().union(*stream.refused.values())
    assert max(dead.values()) == 1
    status = {row["org"]: row for row in await router_status(settings, prefix)}
    for org in orgs:
        assert status[org]["accepted"] == len(stream.accepted[org])
        assert status[org]["refused"] == {"source": len(stream.refused[org])}
