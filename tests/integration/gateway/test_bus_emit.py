"""The one emit function against the real broker: headers, partitions, pre-encoded records,
a caller's transaction."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.structs import ConsumerRecord

from infra import tracing
from infra.bus import Outgoing, emit, send
from infra.kafka import build_consumer, build_producer, ensure_topics
from infra.settings import Settings
from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.examples import example
from schemas.topics import TopicSpec
from tests.support.topics import read_from_start

pytestmark = [pytest.mark.kafka]

PARTITIONS = 6
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


@pytest.fixture
async def topic(stack: Settings, unique: str) -> str:
    """A fresh topic with several partitions."""
    spec = TopicSpec(f"test.bus.{unique}", key="k", partitions=PARTITIONS)
    await ensure_topics(stack, [spec], replication=1)
    return spec.name


@pytest.fixture
async def producer(stack: Settings) -> AsyncIterator[AIOKafkaProducer]:
    producer = build_producer(stack)
    await producer.start()
    yield producer
    await producer.stop()


async def read_all(stack: Settings, topic: str, count: int) -> list[ConsumerRecord]:
    """The first `count` records of every partition of `topic` (read committed)."""
    partitions = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    return await read_from_start(stack, partitions, count, wait_s=10)


async def test_records_carry_the_cloudevents_and_trace_headers_and_the_default_partition(
    stack: Settings, producer: AIOKafkaProducer, topic: str
) -> None:
    """Each record: CE content type, the current traceparent, aiokafka's partition for its key."""
    keys = [f"vol-{n}".encode() for n in range(40)]
    token = tracing.begin({"traceparent": TRACEPARENT})
    try:
        await emit(producer, [Outgoing(topic, key, b'{"n":1}') for key in keys], 10.0)
    finally:
        tracing.end(token)
    # What a plain producer.send() picks for the same key, on the same topic.
    plain_partition = (await producer.send_and_wait(topic, b'{"plain":1}', key=b"vol-0")).partition
    records = [r for r in await read_all(stack, topic, len(keys) + 1) if r.value != b'{"plain":1}']
    assert sorted(r.key for r in records) == sorted(keys)
    everything = list(range(PARTITIONS))
    for record in records:
        assert record.partition == DefaultPartitioner()(record.key, everything, everything)
        headers = dict(record.headers)
        assert headers["content-type"] == b"application/cloudevents+json"
        trace_id = headers["traceparent"].decode().split("-")[1]
        assert trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert next(r.partition for r in records if r.key == b"vol-0") == plain_partition
    # Within one partition the order given is kept.
    order = [r.key for r in sorted(records, key=lambda r: (r.partition, r.offset))]
    by_partition = sorted(keys, key=lambda k: DefaultPartitioner()(k, everything, everything))
    assert order == by_partition


async def test_a_pre_encoded_record_keeps_its_bytes_and_headers(
    stack: Settings, producer: AIOKafkaProducer, topic: str
) -> None:
    """A dead letter's shape: raw bytes, its own headers, no content type forced, its trace kept."""
    raw = b"\xff not json"
    letter = Outgoing(
        topic,
        b"vol-1",
        raw,
        headers=[("error", b"invalid_json"), ("traceparent", TRACEPARENT.encode())],
        content_type=None,
    )
    futures = await send(producer, [letter, Outgoing(topic, None, b"{}", partition=3)])
    assert len(futures) == 2
    for future in futures:
        await future
    records = await read_all(stack, topic, 2)
    first = next(r for r in records if r.value == raw)
    assert first.key == b"vol-1"
    assert first.headers == (("error", b"invalid_json"), ("traceparent", TRACEPARENT.encode()))
    second = next(r for r in records if r.value == b"{}")
    assert second.partition == 3
    assert second.key is None


async def test_typed_events_are_encoded_keyed_and_routed_by_the_registry(
    stack: Settings, producer: AIOKafkaProducer
) -> None:
    """An event goes to its registry topic under its subject, value as `encode_event` writes."""
    event = decode_event(json.dumps(example("volunteer.checked_in")))
    assert isinstance(event, Event)
    consumer = build_consumer(stack)
    await consumer.start()
    try:
        partitions = sorted(await producer.partitions_for("tatawwu.attendance"))
        partition = DefaultPartitioner()(b"vol-10077", partitions, partitions)
        tp = TopicPartition("tatawwu.attendance", partition)
        end = (await consumer.end_offsets([tp]))[tp]
        await emit(producer, [event], 10.0)
        consumer.assign([tp])
        consumer.seek(tp, end)
        [record] = (await consumer.getmany(tp, timeout_ms=5000, max_records=1))[tp]
    finally:
        await consumer.stop()
    assert record.key == b"vol-10077"
    assert decode_event(record.value) == event


async def test_emit_works_inside_a_callers_transaction(
    stack: Settings, topic: str, unique: str
) -> None:
    """With a transactional producer, records sent in an aborted transaction are never read."""
    producer = build_producer(stack, transactional_id=f"test-bus-{unique}")
    await producer.start()
    try:
        async with producer.transaction():
            await emit(producer, [Outgoing(topic, b"k", b'{"kept":1}')], 10.0)
        await producer.begin_transaction()
        await emit(producer, [Outgoing(topic, b"k", b'{"aborted":1}')], 10.0)
        await producer.abort_transaction()
    finally:
        await producer.stop()
    values = [r.value for r in await read_all(stack, topic, 1)]
    assert values == [b'{"kept":1}']
