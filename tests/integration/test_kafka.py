"""The real broker: topic catalog, produce/consume round trip, group commit and resume."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from infra.kafka import TopicsRefused, build_admin, build_consumer, build_producer, ensure_topics
from infra.settings import Settings
from schemas.topics import CATALOG, TopicSpec

pytestmark = [pytest.mark.kafka]


async def describe(settings: Settings, name: str) -> dict:
    admin: AIOKafkaAdminClient = build_admin(settings)
    await admin.start()
    try:
        [topic] = await admin.describe_topics([name])
        return topic
    finally:
        await admin.close()


async def test_declared_topics_exist_with_their_partition_counts(stack: Settings) -> None:
    """Every topic of the catalog exists with the declared partitions after start-up."""
    for spec in CATALOG:
        topic = await describe(stack, spec.name)
        assert topic["error_code"] == 0, spec.name
        assert len(topic["partitions"]) == spec.partitions, spec.name


async def test_topic_creation_is_idempotent(stack: Settings, unique: str) -> None:
    """Creating the same topic twice creates it once and raises nothing."""
    spec = TopicSpec(f"test.idempotent.{unique}", key="k", partitions=2)
    assert await ensure_topics(stack, [spec]) == [spec.name]
    assert await ensure_topics(stack, [spec]) == []
    assert len((await describe(stack, spec.name))["partitions"]) == 2


async def test_refused_topic_gives_a_clear_error(stack: Settings, unique: str) -> None:
    """A replication factor the cluster cannot meet is refused with the topic and the reason."""
    spec = TopicSpec(f"test.refused.{unique}", key="k", partitions=1)
    with pytest.raises(TopicsRefused, match=rf"test\.refused\.{unique}: error 38"):
        await ensure_topics(stack, [spec], replication=5)


async def test_round_trip_resumes_from_the_committed_offset(stack: Settings, unique: str) -> None:
    """A consumer group commits after 5 of 10 records; a restarted member reads the other 5."""
    spec = TopicSpec(f"test.roundtrip.{unique}", key="k", partitions=1)
    await ensure_topics(stack, [spec])
    producer = build_producer(stack)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(spec.name, f"event-{i}".encode(), key=b"same-key")
    finally:
        await producer.stop()

    group = f"test-group-{unique}"
    first = build_consumer(stack, spec.name, group_id=group, max_poll_records=5)
    await first.start()
    try:
        batch = await first.getmany(timeout_ms=10_000, max_records=5)
        values = [r.value for records in batch.values() for r in records]
        assert values == [f"event-{i}".encode() for i in range(5)]
        tp = TopicPartition(spec.name, 0)
        await first.commit({tp: 5})
    finally:
        await first.stop()

    second = build_consumer(stack, spec.name, group_id=group)
    await second.start()
    try:
        rest: list[bytes] = []
        while len(rest) < 5:
            batch = await second.getmany(timeout_ms=10_000)
            assert batch, "the restarted consumer received nothing"
            rest += [r.value for records in batch.values() for r in records]
        assert rest == [f"event-{i}".encode() for i in range(5, 10)]
        assert await second.committed(tp) == 5
    finally:
        await second.stop()


def test_a_librdkafka_client_sees_the_broker_and_the_topics(stack: Settings) -> None:
    """librdkafka (the C client under kcat and most non-Java clients) authenticates with
    SCRAM as the admin and lists the broker and every declared topic; without
    credentials it is refused. (Debian's kcat links librdkafka 2.0.2, whose SCRAM Kafka 4
    rejects: partners need librdkafka >= 2.6.1, see the README.)"""
    from confluent_kafka.admin import AdminClient

    from infra.principals import client_config

    metadata = AdminClient(client_config(stack)).list_topics(timeout=15)
    assert len(metadata.brokers) == stack.kafka_brokers
    for spec in CATALOG:
        assert spec.name in metadata.topics
    anonymous = AdminClient({"bootstrap.servers": stack.bootstrap_servers})
    with pytest.raises(Exception, match=r"Transport|timed out|Timed out|Broker"):
        anonymous.list_topics(timeout=3)
