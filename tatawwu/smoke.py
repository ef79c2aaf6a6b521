"""An event round trip through the real stack: Kafka in, PostgreSQL out, timed.

Publishes one CloudEvent (FastStream broker, idempotent, acks=all) to a dedicated
smoke topic, reads it back from the exact offset Kafka acknowledged, stores it in
`smoke_events` with that offset, and reads the row back. `make demo` runs it.
The platform's shared-schema migrations (the manifest's, `smoke_events` among
them) are applied first, so it also proves a fresh database is usable.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from aiokafka import TopicPartition

from infra.db import connect
from infra.kafka import build_broker, build_consumer, ensure_topics
from infra.logging import bind_correlation_id, correlation_from_headers, correlation_headers
from infra.migrations import apply
from infra.settings import Settings
from schemas.topics import TopicSpec
from tatawwu.manifest import shared_migrations

SMOKE_TOPIC = TopicSpec("tatawwu.smoke", key="event id", partitions=1, retention_ms=86_400_000)


@dataclass(frozen=True)
class RoundTrip:
    """The outcome of one round trip."""

    event_id: str
    partition: int
    offset: int
    correlation_id: str
    milliseconds: float


async def round_trip(settings: Settings) -> RoundTrip:
    """Publish, consume, store and read back one event; raise if any step disagrees."""
    await ensure_topics(settings, [SMOKE_TOPIC])
    conn = await connect(settings)
    try:
        await apply(conn, *shared_migrations())
    finally:
        await conn.close()
    correlation_id = bind_correlation_id()
    event_id = uuid.uuid4().hex
    event = {
        "specversion": "1.0", "id": event_id, "source": "platform/smoke", "type": "smoke.checked",
        "subject": event_id, "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json", "data": {},
    }  # fmt: skip
    began = time.perf_counter()
    broker = build_broker(settings)
    await broker.start()
    try:
        meta = await broker.publish(
            orjson.dumps(event), SMOKE_TOPIC.name, key=event_id.encode(),
            headers=dict((k, v.decode()) for k, v in correlation_headers()),
        )  # fmt: skip
    finally:
        await broker.stop()
    tp = TopicPartition(SMOKE_TOPIC.name, meta.partition)
    consumer = build_consumer(settings)
    await consumer.start()
    try:
        consumer.assign([tp])
        consumer.seek(tp, meta.offset)
        record = await consumer.getone()
    finally:
        await consumer.stop()
    received = orjson.loads(record.value)
    if received["id"] != event_id or correlation_from_headers(record.headers) != correlation_id:
        msg = f"smoke round trip read back a different record at offset {meta.offset}"
        raise RuntimeError(msg)
    conn = await connect(settings)
    try:
        await conn.execute(
            "insert into smoke_events (event_id, topic, kafka_partition, kafka_offset, published_at)"
            " values ($1, $2, $3, $4, $5) on conflict (event_id) do nothing",
            event_id, record.topic, record.partition, record.offset,
            datetime.fromisoformat(received["time"]),
        )  # fmt: skip
        stored = await conn.fetchval(
            "select kafka_offset from smoke_events where event_id = $1", event_id
        )
    finally:
        await conn.close()
    if stored != meta.offset:
        msg = f"smoke round trip stored offset {stored}, expected {meta.offset}"
        raise RuntimeError(msg)
    elapsed = (time.perf_counter() - began) * 1000
    return RoundTrip(event_id, meta.partition, meta.offset, correlation_id, elapsed)
