"""Read the projectors' bookkeeping for `projections status` and `dlq list`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import TopicPartition

from infra.db import connect
from infra.kafka import build_consumer
from infra.settings import Settings


@dataclass(frozen=True)
class ProjectorStatus:
    """One projector's progress as PostgreSQL and Kafka see it."""

    name: str
    applied: int
    duplicates: int
    dead_lettered: int
    last_event_time: dt.datetime | None
    lag: int | None
    partitions: tuple[tuple[str, int, int, int], ...] = ()  # (topic, partition, next, end)


async def collect(settings: Settings, names: Iterable[str]) -> list[ProjectorStatus]:
    """Status rows for each named projector whose schema exists."""
    conn = await connect(settings)
    consumer = build_consumer(settings)
    await consumer.start()
    try:
        out = []
        for name in sorted(names):
            exists = await conn.fetchval("select to_regclass($1)", f'"{name}"._stats')
            if exists is None:
                continue
            stats = await conn.fetchrow(f'select * from "{name}"._stats')
            offsets = await conn.fetch(
                f'select topic, kafka_partition, next_offset from "{name}"._offsets'
            )
            lag, partitions = None, []
            if offsets:
                tps = [TopicPartition(r["topic"], r["kafka_partition"]) for r in offsets]
                ends = await consumer.end_offsets(tps)
                partitions = sorted(
                    (tp.topic, tp.partition, r["next_offset"], ends[tp])
                    for tp, r in zip(tps, offsets, strict=True)
                )
                lag = sum(max(0, end - nxt) for _, _, nxt, end in partitions)
            out.append(
                ProjectorStatus(
                    name,
                    stats["events_applied"],
                    stats["duplicates"],
                    stats["dead_lettered"],
                    stats["last_event_time"],
                    lag,
                    tuple(partitions),
                )
            )
        return out
    finally:
        await consumer.stop()
        await conn.close()


async def dead_letters(
    settings: Settings, limit: int, names: Iterable[str]
) -> list[dict[str, Any]]:
    """Dead letters recorded by each named projector, oldest first."""
    conn = await connect(settings)
    try:
        out: list[dict[str, Any]] = []
        for name in sorted(names):
            if await conn.fetchval("select to_regclass($1)", f'"{name}"._deadletters') is None:
                continue
            rows = await conn.fetch(
                f'select * from "{name}"._deadletters order by dead_at limit $1', limit
            )
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
