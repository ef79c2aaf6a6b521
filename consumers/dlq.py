"""Replay dead letters to their original topics once their cause is fixed.

Reads `tatawwu.deadletter` from the beginning to its current end, keeps one record per
origin (several projectors dead-letter the same bad record), filters by projector and
reason, skips origins already replayed (`dlq_replays`), and re-publishes the original
key and bytes to the original topic with a `replayed_from` header. The ledger rows and
the sends commit together: a crash re-sends at worst, and projectors deduplicate by id.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consumers.runtime import bookkeeping
from infra.db import connect
from infra.kafka import build_consumer, build_producer, end_offsets, topic_partitions
from infra.settings import Settings
from schemas.topics import DEADLETTER

Origin = tuple[str, int, int]


@dataclass
class ReplayReport:
    """What a replay found and sent."""

    dead_letters: int = 0
    origins: int = 0
    already_replayed: int = 0
    replayed: list[Origin] = field(default_factory=list)


async def read_dead_letters(
    settings: Settings, topic: str
) -> list[tuple[Origin, dict[str, bytes], bytes | None, bytes | None]]:
    """Every record on the dead-letter topic now: (origin, headers, key, value)."""
    tps = await topic_partitions(settings, [topic])
    if not tps:
        return []
    consumer = build_consumer(settings)
    await consumer.start()
    try:
        ends = await end_offsets(settings, partitions=tps, consumer=consumer)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(*tps, timeout_ms=2000)
            for records in batch.values():
                for r in records:
                    headers = {k: bytes(v) for k, v in r.headers}
                    origin = (headers["original_topic"].decode(), int(headers["original_partition"]),
                              int(headers["original_offset"]))  # fmt: skip
                    out.append((origin, headers, r.key, r.value))
        return out
    finally:
        await consumer.stop()


async def replay(
    settings: Settings,
    *,
    projector: str | None = None,
    reason: str | None = None,
    topic_prefix: str = "",
) -> ReplayReport:
    """Re-publish matching dead letters to their original topics, each origin once ever."""
    report = ReplayReport()
    letters = await read_dead_letters(settings, topic_prefix + DEADLETTER.name)
    report.dead_letters = len(letters)
    chosen: dict[Origin, tuple[bytes | None, bytes | None]] = {}
    for origin, headers, key, value in letters:
        if projector and headers.get("projector", b"").decode() != projector:
            continue
        if reason and headers.get("error", b"").decode() != reason:
            continue
        chosen.setdefault(origin, (key, value))
    report.origins = len(chosen)
    if not chosen:
        return report
    conn = await connect(settings)
    producer = build_producer(settings)
    await producer.start()
    try:
        async with conn.transaction():
            origins = list(chosen)
            fresh = await bookkeeping.record_replays(conn, origins)
            futures = []
            for origin in fresh:
                key, value = chosen[origin]
                header = f"{origin[0]}/{origin[1]}@{origin[2]}".encode()
                futures.append(
                    await producer.send(
                        origin[0], value, key=key, headers=[("replayed_from", header)]
                    )
                )
            for future in futures:
                await future
        report.replayed = fresh
        report.already_replayed = len(chosen) - len(fresh)
        return report
    finally:
        await producer.stop()
        await conn.close()
