"""Dead letters: recorded in the batch's transaction, sent to the dead-letter topic, logged.

The record format is a contract (`tatawwu dlq list|replay`, operators' tools): the
original key and value bytes, and headers naming the projector, the error and the
original topic/partition/offset (plus the request's correlation id when it had one).
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
from infra.logging import correlation_from_headers

DETAIL_LIMIT = 1000  # characters of the reason's detail carried in a header
Headers = list[tuple[str, bytes]]


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
    return DeadLetter(record.key, record.value, headers)


async def send_dead_letters(producer: Any, topic: str, letters: Sequence[DeadLetter]) -> None:
    """The one place dead letters reach Kafka: send them all, then wait for every ack."""
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
