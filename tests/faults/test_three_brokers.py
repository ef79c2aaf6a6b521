"""Three KRaft brokers on loopback: losing one keeps acks=all producers succeeding."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from aiokafka import TopicPartition

from infra.kafka import build_admin, build_consumer, build_producer, ensure_topics
from infra.local.kafka import CONTROLLER_PORT_OFFSET
from infra.local.stack import kafka_cluster
from infra.settings import Settings
from schemas.topics import TopicSpec
from tests.support.ports import free_ports_below_ephemeral

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
BROKERS = 3


def tatawwu(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TATAWWU_LOG_FORMAT": "json"}
    env.pop("TATAWWU_KAFKA_BOOTSTRAP", None)
    return subprocess.run(
        [sys.executable, "-m", "tatawwu", *args], capture_output=True, text=True, env=env,
        timeout=240, check=False,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster(stack: Settings) -> Iterator[Settings]:
    """`tatawwu infra up --brokers 3` on ports picked free at run time, purged afterwards.

    Brokers on port .. port + 2, controllers 10000 above each, all below the ephemeral
    range (a broker is killed and its address must stay ours).
    """
    offsets = [n + c for n in range(BROKERS) for c in (0, CONTROLLER_PORT_OFFSET)]
    port = free_ports_below_ephemeral(*offsets)
    brokers = str(BROKERS)
    result = tatawwu("infra", "up", "--brokers", brokers, "--port", str(port), "--only", "kafka")
    settings = stack.model_copy(
        update={"kafka_bootstrap": "", "kafka_brokers": BROKERS, "kafka_port": port}
    )
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        yield settings
    finally:
        tatawwu(
            "infra", "down", "--brokers", brokers, "--port", str(port), "--only", "kafka", "--purge"
        )
    assert all(row["pid"] is None for row in kafka_cluster(settings).status())


async def test_three_brokers_form_one_cluster_with_replicated_topics(cluster: Settings) -> None:
    """All three brokers are registered and the catalog topics have three in-sync replicas."""
    admin = build_admin(cluster)
    await admin.start()
    try:
        assert len((await admin.describe_cluster())["brokers"]) == 3
        [topic] = await admin.describe_topics(["tatawwu.signups"])
        assert all(len(p["isr"]) == 3 for p in topic["partitions"])
    finally:
        await admin.close()


async def test_acks_all_producer_keeps_succeeding_when_a_broker_is_killed(
    cluster: Settings, unique: str
) -> None:
    """Kill the partition leader mid-stream: every acks=all send succeeds and none is lost."""
    spec = TopicSpec(f"test.failover.{unique}", key="k", partitions=1)
    await ensure_topics(cluster, [spec])
    admin = build_admin(cluster)
    await admin.start()
    try:
        # The broker the admin asks may not have the new partition's metadata yet.
        for _ in range(100):
            [topic] = await admin.describe_topics([spec.name])
            if topic["partitions"] and topic["partitions"][0]["leader"] >= 0:
                break
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    leader = topic["partitions"][0]["leader"]
    nodes = kafka_cluster(cluster)

    producer = build_producer(cluster, request_timeout_ms=30_000, retry_backoff_ms=200)
    await producer.start()
    try:
        for i in range(200):
            await producer.send_and_wait(spec.name, f"{i}".encode(), key=b"k")
        assert nodes.stop_node(leader, kill=True)
        began = time.monotonic()
        for i in range(200, 400):
            await producer.send_and_wait(spec.name, f"{i}".encode(), key=b"k")
        print(f"200 sends after the leader was killed took {time.monotonic() - began:.1f}s")
    finally:
        await producer.stop()

    consumer = build_consumer(cluster)
    await consumer.start()
    try:
        tp = TopicPartition(spec.name, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        seen: list[int] = []
        while len(seen) < 400:
            batch = await consumer.getmany(tp, timeout_ms=10_000)
            assert batch, f"only {len(seen)} of 400 records came back"
            seen += [int(r.value) for r in batch[tp]]
    finally:
        await consumer.stop()
    assert seen == list(range(400)), "records lost, duplicated or reordered across the failover"
    nodes.start_node(leader)
    await asyncio.to_thread(nodes.wait_node, leader)
