"""Events to Kafka for the gateway: the shared emit function, bounded by the request's wait.

The batching, headers (CloudEvents content type, W3C traceparent) and partitioning live in
`infra.bus`, the one way onto Kafka; the gateway only bounds how long it waits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from infra.bus import KafkaUnavailable, RecordTooLarge, emit
from schemas.envelope import Event

__all__ = ["KafkaUnavailable", "RecordTooLarge", "produce"]


async def produce(producer: AIOKafkaProducer, events: Sequence[Event[Any]], wait_s: float) -> None:
    """Send every event (key = subject, topic from the registry) and wait for all acks.

    Raises KafkaUnavailable when any batch fails or the whole does not finish within
    `wait_s` seconds; the partner retries with the same ids, which is safe.
    """
    await emit(producer, events, wait_s)
