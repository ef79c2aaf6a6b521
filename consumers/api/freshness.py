"""Projection freshness: stored offsets (PostgreSQL) against the log's end offsets (Kafka)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import asyncpg
import structlog
from aiokafka import TopicPartition

from consumers.api.models import ProjectionFreshness, Projections
from consumers.api.sources import Sources
from consumers.status import statuses
from infra.kafka import build_consumer, end_offsets
from infra.settings import Settings

log = structlog.get_logger(__name__)


class EndOffsets:
    """End offsets from a group-less consumer, cached briefly; None while Kafka is away."""

    def __init__(self, settings: Settings, ttl_s: float = 1.0) -> None:
        self.settings, self.ttl_s = settings, ttl_s
        self._consumer: Any = None
        self._cache: dict[TopicPartition, int] = {}
        self._at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int] | None:
        """The end offset of each partition, or None if Kafka cannot be asked now."""
        async with self._lock:
            fresh = time.monotonic() - self._at < self.ttl_s
            if fresh and all(tp in self._cache for tp in partitions):
                return self._cache
            try:
                if self._consumer is None:
                    consumer = build_consumer(self.settings, request_timeout_ms=3000)
                    await asyncio.wait_for(consumer.start(), 5)
                    self._consumer = consumer
                ends = await asyncio.wait_for(
                    end_offsets(self.settings, partitions=partitions, consumer=self._consumer), 3
                )
            except Exception as exc:
                log.warning("end_offsets_unavailable", error=type(exc).__name__)
                await self.close()
                return None
            self._cache, self._at = dict(ends), time.monotonic()
            return self._cache

    async def close(self) -> None:
        """Stop the consumer (it is recreated on the next call)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            try:
                await consumer.stop()
            except Exception as exc:
                log.debug("end_offsets_close_failed", error=type(exc).__name__)


async def projections(conn: asyncpg.Connection, sources: Sources, ends: EndOffsets) -> Projections:
    """Freshness of every read model the API serves."""
    now = dt.datetime.now(dt.UTC)
    found = await statuses(conn, sources.read_models, ends.get)
    items = []
    for name, schema in sources.read_models.items():
        status = found[name]
        if status is None:
            items.append(ProjectionFreshness(
                name=name, schema=schema, status="missing", events_applied=None,
                duplicates=None, dead_lettered=None, last_event_time=None, last_applied_at=None,
                seconds_since_applied=None, lag=None,
            ))  # fmt: skip
            continue
        applied_at = status.last_applied_at
        items.append(ProjectionFreshness(
            name=name, schema=schema, status="ok", events_applied=status.applied,
            duplicates=status.duplicates, dead_lettered=status.dead_lettered,
            last_event_time=status.last_event_time, last_applied_at=applied_at,
            seconds_since_applied=(now - applied_at).total_seconds() if applied_at else None,
            lag=status.lag,
        ))  # fmt: skip
    return Projections(checked_at=now, projections=items)
