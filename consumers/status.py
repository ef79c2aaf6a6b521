"""Projector status and lag, computed once: `projections status`, `dlq list` and the API."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiokafka import TopicPartition

from consumers.runtime import bookkeeping
from infra.db import connect
from infra.kafka import end_offsets
from infra.settings import Settings

# The end offsets of these partitions, or None when Kafka cannot be asked now.
EndsOf = Callable[[list[TopicPartition]], Awaitable[dict[TopicPartition, int] | None]]


@dataclass(frozen=True)
class ProjectorStatus:
    """One projector's progress as PostgreSQL and Kafka see it."""

    name: str
    schema: str
    applied: int
    duplicates: int
    dead_lettered: int
    last_event_time: dt.datetime | None
    last_applied_at: dt.datetime | None
    lag: int | None  # records not applied yet; None when Kafka could not be asked
    partitions: tuple[tuple[str, int, int, int], ...] = ()  # (topic, partition, next, end)


def status_of(
    name: str,
    schema: str,
    progress: bookkeeping.Progress,
    ends: Mapping[TopicPartition, int] | None,
) -> ProjectorStatus:
    """A projector's status from its bookkeeping and the log's end offsets (pure)."""
    lag, partitions = None, ()
    if ends is not None:
        partitions = tuple(
            sorted(
                (tp.topic, tp.partition, nxt, ends.get(tp, nxt))
                for tp, nxt in progress.offsets.items()
            )
        )
        lag = sum(max(0, end - nxt) for _, _, nxt, end in partitions)
    return ProjectorStatus(
        name, schema, progress.events_applied, progress.duplicates, progress.dead_lettered,
        progress.last_event_time, progress.last_applied_at, lag, partitions,
    )  # fmt: skip


async def statuses(
    conn: asyncpg.Connection, schemas: Mapping[str, str], ends_of: EndsOf
) -> dict[str, ProjectorStatus | None]:
    """Status per projector name (None: its schema does not exist yet), one Kafka ask."""
    found = {
        name: await bookkeeping.read_progress(conn, schema) for name, schema in schemas.items()
    }
    partitions = sorted({tp for p in found.values() if p for tp in p.offsets})
    ends = await ends_of(partitions) if partitions else {}
    return {
        name: None if progress is None else status_of(name, schemas[name], progress, ends)
        for name, progress in found.items()
    }


async def collect(settings: Settings, names: Iterable[str]) -> list[ProjectorStatus]:
    """Status rows for each named projector whose schema exists."""

    async def ends_of(partitions: list[TopicPartition]) -> dict[TopicPartition, int]:
        return await end_offsets(settings, partitions=partitions)

    conn = await connect(settings)
    try:
        wanted = sorted(names)
        found = await statuses(conn, {name: name for name in wanted}, ends_of)
        return [status for status in found.values() if status is not None]
    finally:
        await conn.close()


async def dead_letters(
    settings: Settings, limit: int, names: Iterable[str]
) -> list[dict[str, Any]]:
    """Dead letters recorded by each named projector, oldest first."""
    conn = await connect(settings)
    try:
        out: list[dict[str, Any]] = []
        for name in sorted(names):
            rows = await bookkeeping.read_dead_letters(conn, name, limit)
            out += [
                {
                    "projector": name,
                    "origin": f"{r['topic']}/{r['kafka_partition']}@{r['kafka_offset']}",
                    "reason": r["reason"],
                    "event_type": r["event_type"],
                    "detail": r["detail"],
                }
                for r in rows
            ]
        return out[:limit]
    finally:
        await conn.close()
