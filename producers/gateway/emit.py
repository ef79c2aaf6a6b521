"""Events to Kafka: all records of a request sent at once, answered only once all are acked.

Records are grouped by (topic, partition) and handed to the producer as whole batches
(`create_batch`/`send_batch`) rather than one `send()` each: profiling showed aiokafka's
per-record `send()` was half of the gateway's CPU per event. The partition of a key is the
one aiokafka's (and Java's) default partitioner picks, so a volunteer's events land in the
same partition whether they come through the gateway or straight from a publisher.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from infra.logging import correlation_headers
from schemas.decode import encode_event
from schemas.envelope import Event
from schemas.registry import spec_of

# Structured-mode CloudEvents on Kafka carry this content type header.
CONTENT_TYPE_HEADER = ("content-type", b"application/cloudevents+json")
_PARTITIONER = DefaultPartitioner()


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge every record of a request in time."""


class RecordTooLarge(ValueError):
    """One record does not fit in an empty producer batch."""


def record_headers() -> list[tuple[str, bytes]]:
    """Headers of every record of the current request."""
    return [CONTENT_TYPE_HEADER, *correlation_headers()]


async def _grouped(
    producer: AIOKafkaProducer, events: Sequence[Event[Any]]
) -> dict[tuple[str, int], list[tuple[bytes, bytes]]]:
    """(topic, partition) -> [(key, value)] in request order; values re-encoded, version stamped."""
    partitions: dict[str, list[int]] = {}
    groups: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
    for event in events:
        topic = spec_of(event).topic.name
        known = partitions.get(topic)
        if known is None:  # same list, same order, as aiokafka's own send() uses
            known = partitions[topic] = list(await producer.partitions_for(topic))
        key = event.subject.encode()
        partition = _PARTITIONER(key, known, known)
        groups.setdefault((topic, partition), []).append((key, encode_event(event)))
    return groups


async def _send_group(
    producer: AIOKafkaProducer,
    topic: str,
    partition: int,
    records: list[tuple[bytes, bytes]],
    headers: list[tuple[str, bytes]],
) -> list[asyncio.Future[Any]]:
    futures: list[asyncio.Future[Any]] = []
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            batch = producer.create_batch()
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                msg = f"an event of {len(value)} bytes does not fit in a Kafka batch"
                raise RecordTooLarge(msg)
    if batch.record_count():
        futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures


async def produce(producer: AIOKafkaProducer, events: Sequence[Event[Any]], wait_s: float) -> None:
    """Send every event (key = subject, topic from the registry) and wait for all acks.

    Raises KafkaUnavailable when any batch fails or the whole does not finish within
    `wait_s` seconds. Batches already handed to the producer may still reach Kafka
    later; that is safe because consumers deduplicate by event id and the partner
    retries with the same ids.
    """
    headers = record_headers()
    futures: list[asyncio.Future[Any]] = []
    try:
        async with asyncio.timeout(wait_s):
            for (topic, partition), records in (await _grouped(producer, events)).items():
                futures += await _send_group(producer, topic, partition, records, headers)
            # asyncio.wait, unlike gather, never cancels the delivery futures on timeout.
            if futures:
                await asyncio.wait(futures)
    except TimeoutError:
        msg = f"Kafka did not acknowledge {len(events)} records within {wait_s:.1f}s"
        raise KafkaUnavailable(msg) from None
    except KafkaError as exc:
        msg = f"Kafka refused the records: {type(exc).__name__}"
        raise KafkaUnavailable(msg) from None
    failed = next((f.exception() for f in futures if f.exception() is not None), None)
    if failed is not None:
        msg = f"Kafka refused a batch: {type(failed).__name__}"
        raise KafkaUnavailable(msg)
