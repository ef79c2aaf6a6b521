"""Dead letters: recorded in the batch's transaction, sent to the dead-letter topic, logged.

The record format is a contract (`tatawwu dlq list|replay`, operators' tools): the
original key and value bytes, and headers naming the projector, the error and the
original topic/partition/offset (plus the request's correlation id when it had one);
then, when the original record had headers, `original_headers` (their count, decimal)
followed by exactly those headers, bytes and order unchanged (a binary-mode CloudEvent's
`ce_*` headers are part of the event): `original_of` gives them back for a replay. No
content type is forced on a dead letter: the value is whatever bytes arrived.

Sent through the process's FastStream dead-letter publisher (`deadletter_publisher`,
the one the AsyncAPI document describes) once `use_publishers` registered it; a caller
that registered none (tests driving the runtime directly) sends with the runtime's own
aiokafka producer. Both send the same key, value and headers; the FastStream path
(`infra.bus.publish`) puts the current W3C trace headers in front, as every bus record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from consumers.runtime import bookkeeping
from consumers.runtime.batch import Dead
from infra.bus import Outgoing, publish
from infra.logging import correlation_from_headers
from infra.streams import Publishers
from schemas.topics import DEADLETTER

DETAIL_LIMIT = 1000  # characters of the reason's detail carried in a header
ORIGINAL_HEADERS = "original_headers"
Headers = list[tuple[str, bytes]]
DESCRIPTION = (
    "Records a projector or the notifier could not process. Key and value: the original "
    "record's bytes, unchanged (usually a CloudEvent, but any bytes: that may be why it "
    "died), so no content type is promised. Headers: projector, error, error_detail, "
    "original_topic, original_partition, original_offset, correlation_id (when the "
    "original had one), then `original_headers` (a count) followed by the original "
    "record's headers exactly; `tatawwu dlq replay` restores key, value and headers. "
    "The router's letters (partners' records, maybe personal) carry the value sealed "
    "(AES-256-GCM: `value_sealed` volunteer|platform|volunteer+platform and `value_kid` "
    "headers, the kids space-separated, "
    "consumers/sealed_letters.py), or none (`value_dropped`) for an erased volunteer."
)
_registered: dict[str, Publishers] = {}  # dead-letter topic -> this process's publishers


def deadletter_publisher(publishers: Publishers, topic_prefix: str = "") -> Any:
    """Declare the dead-letter publisher (what the runtime sends and AsyncAPI documents)."""
    return publishers.declare(
        topic_prefix + DEADLETTER.name,
        title=f"{DEADLETTER.name}:publish",
        description=DESCRIPTION,
        schema=bytes,
    )


def use_publishers(publishers: Publishers, topic_prefix: str = "") -> None:
    """Send this process's dead letters through its (started) FastStream publisher."""
    deadletter_publisher(publishers, topic_prefix)
    _registered[topic_prefix + DEADLETTER.name] = publishers


def forget_publishers(topic_prefix: str = "") -> None:
    """Back to the runtime's aiokafka producer (the broker is stopping)."""
    _registered.pop(topic_prefix + DEADLETTER.name, None)


@dataclass(frozen=True)
class DeadLetter:
    """The record sent to the dead-letter topic for one record a projector gave up on."""

    key: bytes | None
    value: bytes | None
    headers: Headers


def dead_letter_record(projector: str, dead: Dead) -> DeadLetter:
    """The dead-letter record for `dead`: its original bytes, headers saying why and where."""
    record = dead.record
    headers: Headers = [
        ("projector", projector.encode()),
        ("error", dead.reason.encode()),
        ("error_detail", dead.detail[:DETAIL_LIMIT].encode()),
        ("original_topic", record.topic.encode()),
        ("original_partition", str(record.partition).encode()),
        ("original_offset", str(record.offset).encode()),
    ]
    if cid := correlation_from_headers(record.headers):
        headers.append(("correlation_id", cid.encode()))
    original = [(name, bytes(value)) for name, value in record.headers or ()]
    if original:
        headers += [(ORIGINAL_HEADERS, str(len(original)).encode()), *original]
    return DeadLetter(record.key, record.value, headers)


def original_of(headers: Sequence[tuple[str, bytes]]) -> tuple[dict[str, bytes], Headers]:
    """A dead letter's own headers (by name) and the original record's headers, exactly.

    The dead letter's headers are those before `original_headers`; the original's are
    the count that follows it. Letters written before the original headers were kept
    have none.
    """
    own: dict[str, bytes] = {}
    for position, (name, value) in enumerate(headers):
        if name == ORIGINAL_HEADERS:
            count = int(bytes(value))
            original = [(n, bytes(v)) for n, v in headers[position + 1 : position + 1 + count]]
            return own, original
        own[name] = bytes(value)  # the letter's own headers follow the bus's trace headers
    return own, []


async def send_dead_letters(producer: Any, topic: str, letters: Sequence[DeadLetter]) -> None:
    """The one place dead letters reach Kafka: send them all, then wait for every ack."""
    publishers = _registered.get(topic)
    if publishers is not None:
        outgoing = [
            Outgoing(topic, letter.key, letter.value, letter.headers, content_type=None)
            for letter in letters
        ]
        await publish(publishers, outgoing)
        return
    futures = [
        await producer.send(topic, letter.value, key=letter.key, headers=letter.headers)
        for letter in letters
    ]
    await asyncio.gather(*futures)


def reasons_of(dead: Sequence[Dead]) -> dict[str, int]:
    """How many dead letters per reason."""
    reasons: dict[str, int] = {}
    for d in dead:
        reasons[d.reason] = reasons.get(d.reason, 0) + 1
    return reasons


async def dead_letter(
    conn: asyncpg.Connection,
    producer: Any,
    topic: str,
    projector: str,
    dead: Sequence[Dead],
    log: structlog.stdlib.BoundLogger,
) -> int:
    """Record dead letters in the transaction and on the topic; return how many are new."""
    new = await bookkeeping.store_dead_letters(conn, dead)
    # Sent before the commit: a crash now re-sends on retry (the list dedupes by origin),
    # never loses one.
    await send_dead_letters(producer, topic, [dead_letter_record(projector, d) for d in dead])
    # One warning per batch (a flood of bad records must not flood the log); the
    # records themselves are listed by `tatawwu dlq list`.
    first = dead[0].record
    log.warning(
        "dead_lettered",
        count=len(dead),
        reasons=reasons_of(dead),
        first=f"{first.topic}/{first.partition}@{first.offset}",
        correlation_id=correlation_from_headers(first.headers),
    )
    return new
