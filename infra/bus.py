"""The one way onto Kafka: CloudEvents records, batched per partition, traced, all acked.

Every producer sends the records made here, through `emit` (or `send`, which hands records
over without waiting) or, for the FastStream-published services, `publish` (below):
events are encoded once (`encode_event`, topic from the registry, key = subject); records
already encoded (the simulator's deliberately broken ones, dead letters, replays) travel as
`Outgoing`. Each record gets the CloudEvents Kafka binding header of structured mode,
`content-type: application/cloudevents+json`, and the W3C `traceparent`/`tracestate` of the
current trace (`infra.tracing`); an event carrying its own `traceparent` extension keeps
its own trace on its record.

Records are grouped by (topic, partition) and handed to the producer as whole batches
(`create_batch`/`send_batch`) rather than one `send()` each: profiling showed aiokafka's
per-record `send()` was half of the gateway's CPU per event. The partition of a key is the
one aiokafka's (and Java's) default partitioner picks, so a volunteer's events land in the
same partition whether they come through the gateway or straight from a publisher.

Inside a transaction: pass the transactional producer and call `emit` (or `send`) inside
`async with producer.transaction():` - `send_batch` adds each partition to the
transaction, as `send()` does.

Two transports share these records (`record_of` builds what `_grouped` builds, minus the
partition): the batched aiokafka path above (`emit`/`send`: the gateway, the publisher,
the simulator) and `publish`, which sends them one by one through FastStream publishers
(`infra.streams`) - the dead letters (`consumers.runtime.deadletters`), the notifier's
outcomes (`consumers.notifications.outcomes`) and `tatawwu dlq replay` (`consumers.dlq`),
whose publishers are the ones the AsyncAPI document is generated from. Dead letters keep
the original record's headers after their own; a replay sends `exact=True`, the original
headers and nothing else but `replayed_from`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner, murmur2

from infra import tracing
from infra.streams import RAW_HEADERS
from schemas.decode import encode_event
from schemas.envelope import Event
from schemas.registry import SPECS, spec_of

CLOUDEVENTS_JSON = b"application/cloudevents+json"
CONTENT_TYPE = "content-type"
_PARTITIONER = DefaultPartitioner()
# murmur2 of recent keys: aiokafka's is pure Python (~7 us a key, a tenth of the router's
# CPU per event, profiled), and a volunteer's key comes back with each of its facts.
_HASHES: dict[bytes, int] = {}
MAX_HASHES = 100_000
# Topic by payload class: one dict lookup per forwarded event (`spec_of` parses more).
_TOPIC_OF: dict[type, str] = {spec.model: spec.topic.name for spec in SPECS.values()}

Headers = list[tuple[str, bytes]]


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge every record in time, or refused some."""


class RecordTooLarge(ValueError):
    """One record does not fit in an empty producer batch."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A record already encoded: its bytes are sent as they are.

    `headers` come after the CloudEvents and trace headers; a `traceparent` among them
    replaces the current trace's. `content_type=None` sends no content type (a dead letter
    keeps whatever its original record had, in `headers`). `partition=None` lets the key
    choose it.
    """

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()
    content_type: bytes | None = CLOUDEVENTS_JSON
    partition: int | None = None


class Forwarded(NamedTuple):
    """An event forwarded from where it entered (the ingress router): the record the gateway
    would write for it, under `topic_prefix`, carrying the trace headers it arrived with
    (`trace`, W3C `traceparent`/`tracestate`) instead of the current trace's.

    A named tuple: the router makes one per event, and a tuple is the cheapest to build.
    """

    event: Event[Any]
    trace: Sequence[tuple[str, bytes]] = ()
    topic_prefix: str = ""


Sendable = Event[Any] | Outgoing | Forwarded
# Per (topic, partition): (key, value, headers, index of the item) in the order given.
_Groups = dict[tuple[str, int], list[tuple[bytes | None, bytes | None, Headers, int]]]


def _event_headers(event: Event[Any], base: Headers) -> Headers:
    """An event with its own `traceparent` extension: its trace on its record."""
    own = [("traceparent", str(event.traceparent).encode())]
    if event.tracestate is not None:
        own.append(("tracestate", event.tracestate.encode()))
    return [*own, *((n, v) for n, v in base if n not in tracing.TRACE_HEADERS)]


def _outgoing_headers(record: Outgoing, trace: Headers) -> Headers:
    extra = list(record.headers)
    if any(name == "traceparent" for name, _ in extra):
        trace = [(n, v) for n, v in trace if n not in tracing.TRACE_HEADERS]
    head = [(CONTENT_TYPE, record.content_type)] if record.content_type is not None else []
    return [*head, *trace, *extra]


def _partition_of(key: bytes | None, partitions: list[int]) -> int:
    """The partition aiokafka's (and Java's) default partitioner picks for `key`."""
    if key is None:
        return int(_PARTITIONER(key, partitions, partitions))
    hashed = _HASHES.get(key)
    if hashed is None:
        if len(_HASHES) >= MAX_HASHES:
            _HASHES.clear()
        hashed = _HASHES[key] = murmur2(key) & 0x7FFFFFFF
    return partitions[hashed % len(partitions)]


async def _grouped(producer: AIOKafkaProducer, items: Iterable[Sendable]) -> tuple[_Groups, int]:
    """(topic, partition) -> records in the given order, each with its index; and the count."""
    trace = tracing.kafka_headers()
    base: Headers = [(CONTENT_TYPE, CLOUDEVENTS_JSON), *trace]
    partitions: dict[str, list[int]] = {}
    groups: _Groups = {}
    index = -1
    for index, item in enumerate(items):
        if type(item) is Forwarded:  # first: the router sends thousands at a time
            event = item.event
            topic = item.topic_prefix + _TOPIC_OF[type(event.data)]
            key, value, partition = event.subject.encode(), encode_event(event), None
            own: Headers = [(CONTENT_TYPE, CLOUDEVENTS_JSON), *item.trace] if item.trace else base
            headers = own if event.traceparent is None else _event_headers(event, own)
        elif isinstance(item, Outgoing):
            topic, key, value = item.topic, item.key, item.value
            headers, partition = _outgoing_headers(item, trace), item.partition
        else:
            topic, key, value = spec_of(item).topic.name, item.subject.encode(), encode_event(item)
            headers = base if item.traceparent is None else _event_headers(item, base)
            partition = None
        if partition is None:
            known = partitions.get(topic)
            if known is None:  # same list, same order, as aiokafka's own send() uses
                known = partitions[topic] = list(await producer.partitions_for(topic))
            partition = _partition_of(key, known)
        group = groups.get((topic, partition))
        if group is None:
            group = groups[(topic, partition)] = []
        group.append((key, value, headers, index))
    return groups, index + 1


async def _send_group(
    producer: AIOKafkaProducer,
    topic: str,
    partition: int,
    records: list[tuple[bytes | None, bytes | None, Headers, int]],
    delivery: list[asyncio.Future[Any] | None] | None,
) -> list[asyncio.Future[Any]]:
    """Fill and send batches; return their futures (and set `delivery[index]` when given)."""
    futures: list[asyncio.Future[Any]] = []
    batch, first = producer.create_batch(), 0
    for position, (key, value, headers, _) in enumerate(records):
        if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
            futures.append(await producer.send_batch(batch, topic, partition=partition))
            if delivery is not None:
                for _, _, _, index in records[first:position]:
                    delivery[index] = futures[-1]
            batch, first = producer.create_batch(), position
            if batch.append(key=key, value=value, timestamp=None, headers=headers) is None:
                msg = f"a record of {len(value or b'')} bytes does not fit in a Kafka batch"
                raise RecordTooLarge(msg)
    if first < len(records):
        futures.append(await producer.send_batch(batch, topic, partition=partition))
        if delivery is not None:
            for _, _, _, index in records[first:]:
                delivery[index] = futures[-1]
    return futures


async def send(producer: AIOKafkaProducer, items: Iterable[Sendable]) -> list[asyncio.Future[Any]]:
    """Hand every record to the producer, batched per partition; do not wait for the acks.

    Returns one delivery future per item, in the order given (records sharing a batch share
    its future), so a caller can pipeline and still tell which items failed.
    """
    groups, count = await _grouped(producer, items)
    delivery: list[asyncio.Future[Any] | None] = [None] * count
    for (topic, partition), records in groups.items():
        await _send_group(producer, topic, partition, records, delivery)
    return [future for future in delivery if future is not None]


async def emit(
    producer: AIOKafkaProducer, items: Sequence[Sendable], timeout_s: float | None = None
) -> None:
    """Send every record and return once Kafka acknowledged all of them.

    Raises `KafkaUnavailable` when any batch fails or the whole does not finish within
    `timeout_s` seconds, `RecordTooLarge` when one record cannot fit in a batch. Batches
    already handed over may still reach Kafka later; consumers deduplicate by event id.
    """
    futures: list[asyncio.Future[Any]] = []
    try:
        async with asyncio.timeout(timeout_s):
            groups, _ = await _grouped(producer, items)
            for (topic, partition), records in groups.items():
                futures += await _send_group(producer, topic, partition, records, None)
            # asyncio.wait, unlike gather, never cancels the delivery futures on timeout.
            if futures:
                await asyncio.wait(futures)
    except TimeoutError:
        msg = f"Kafka did not acknowledge {len(items)} records within {timeout_s:.1f}s"
        raise KafkaUnavailable(msg) from None
    except KafkaError as exc:
        msg = f"Kafka refused the records: {type(exc).__name__}"
        raise KafkaUnavailable(msg) from None
    failed = next((f.exception() for f in futures if f.exception() is not None), None)
    if failed is not None:
        msg = f"Kafka refused a batch: {type(failed).__name__}"
        raise KafkaUnavailable(msg)


# ------------------------------------------------------------- the FastStream transport
# The same records as above, one at a time through FastStream publishers (infra.streams):
# for the services whose every send is documented in AsyncAPI (dead letters, notification
# outcomes, dlq replay). Their volumes are small; the gateway keeps the batched path.

Record = tuple[str, bytes | None, bytes | None, Headers]  # topic, key, value, headers


def record_of(item: Sendable, trace: Headers) -> Record:
    """The record `emit` makes of `item` (without its partition): topic, key, value, headers."""
    if isinstance(item, Outgoing):
        return item.topic, item.key, item.value, _outgoing_headers(item, trace)
    base: Headers = [(CONTENT_TYPE, CLOUDEVENTS_JSON), *trace]
    headers = base if item.traceparent is None else _event_headers(item, base)
    return spec_of(item).topic.name, item.subject.encode(), encode_event(item), headers


async def publish(
    publishers: Any, items: Sequence[Sendable], prefix: str = "", *, exact: bool = False
) -> None:
    """Send every record through the FastStream publisher of its topic; wait for all acks.

    `publishers[topic]` is the publisher (`infra.streams.Publishers`); an event's topic
    comes from the registry, prefixed with `prefix` (test isolation). Headers travel
    exactly as built here (`RAW_HEADERS`): no FastStream `correlation_id` is added.
    `exact=True` (a replay) sends each `Outgoing` with its own headers only: no content
    type, no current trace. Raises `KafkaUnavailable` when Kafka refuses a record.
    """
    trace = tracing.kafka_headers()
    futures = []
    try:
        for item in items:
            topic, key, value, headers = record_of(item, trace)
            if exact and isinstance(item, Outgoing):
                headers = list(item.headers)
            elif not isinstance(item, Outgoing):
                topic = prefix + topic
            futures.append(
                await publishers[topic].publish(
                    value, key=key, headers={RAW_HEADERS: headers}, no_confirm=True
                )
            )
        await asyncio.gather(*futures)
    except KafkaError as exc:
        msg = f"Kafka refused the records: {type(exc).__name__}"
        raise KafkaUnavailable(msg) from None
