"""Replay dead letters to their original topics once their cause is fixed.

Reads `tatawwu.deadletter` from the beginning to its current end, keeps one record per
origin (several projectors dead-letter the same bad record), filters by projector and
reason, skips origins already replayed (`dlq_replays`), and re-publishes the original
record - key, value and headers, bytes and order unchanged (`deadletters.original_of`) -
to the original topic, followed by one `replayed_from` header. The ledger rows and the
sends commit together: a crash re-sends at worst, and projectors deduplicate by id. A
payload the router sealed (`consumers.sealed_letters`) is opened first; one whose key was
destroyed (an erased volunteer, or the platform key past its retention) cannot be
replayed and is counted `unreadable`.

The re-publishing is a small FastStream application: one publisher per canonical topic
(`replay_publishers`, the objects the AsyncAPI document describes) on a broker started
for the replay, sending through `infra.bus.publish` with the exact headers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consumers.runtime import bookkeeping
from consumers.runtime.deadletters import original_of
from consumers.sealed_letters import DROPPED, KID, kids_of, open_value
from infra.bus import Outgoing, publish
from infra.db import connect, create_pool
from infra.kafka import build_consumer, end_offsets, topic_partitions
from infra.keys import build_key_service
from infra.settings import Settings
from infra.streams import Publishers, build_stream_broker
from schemas.topics import CATALOG, DEADLETTER, NOTIFICATIONS

Origin = tuple[str, int, int]
Headers = list[tuple[str, bytes]]
Letter = tuple[Origin, dict[str, bytes], bytes | None, bytes | None, Headers]
# The topics a dead letter can come from: those the projectors and the notifier consume
# (no process consumes the notifier's outcomes, so none is ever dead-lettered). The
# router's come from partners' ingress topics, one per organisation: `replay` declares a
# publisher for every origin it replays to (`extra`), so a refused record goes back to
# the ingress topic it came from and the router judges it again.
REPLAYED = tuple(s.name for s in CATALOG if s.name not in {DEADLETTER.name, NOTIFICATIONS.name})


def replay_publishers(
    settings: Settings | None, topic_prefix: str = "", extra: tuple[str, ...] = ()
) -> Publishers:
    """The replay's publishers: every canonical topic (plus `extra` origins), raw records."""
    return declare_replay(Publishers(build_stream_broker(settings)), topic_prefix, extra)


def declare_replay(
    publishers: Publishers, topic_prefix: str = "", extra: tuple[str, ...] = ()
) -> Publishers:
    """Declare the replay's publisher of each canonical topic (and of `extra` topics)."""
    for name in REPLAYED:
        publishers.declare(
            topic_prefix + name,
            title=f"{name}:replay",
            description="`tatawwu dlq replay`: dead-lettered records re-published as they "
            "arrived (key, value and headers unchanged) plus a `replayed_from` header.",
            schema=bytes,
        )
    for topic in extra:
        publishers.declare(topic, title=f"{topic}:replay", schema=bytes)
    return publishers


@dataclass
class ReplayReport:
    """What a replay found and sent."""

    dead_letters: int = 0
    origins: int = 0
    already_replayed: int = 0
    unreadable: int = 0  # sealed payloads whose key was destroyed: nothing to replay
    replayed: list[Origin] = field(default_factory=list)


async def read_dead_letters(settings: Settings, topic: str) -> list[Letter]:
    """Every record on the dead-letter topic now: (origin, headers, key, value, original headers)."""
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
                    headers, original = original_of(r.headers)
                    origin = (headers["original_topic"].decode(), int(headers["original_partition"]),
                              int(headers["original_offset"]))  # fmt: skip
                    out.append((origin, headers, r.key, r.value, original))
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
    letters, report.unreadable = await open_letters(settings, letters)
    chosen: dict[Origin, tuple[bytes | None, bytes | None, Headers]] = {}
    for origin, headers, key, value, original in letters:
        if projector and headers.get("projector", b"").decode() != projector:
            continue
        if reason and headers.get("error", b"").decode() != reason:
            continue
        chosen.setdefault(origin, (key, value, original))
    report.origins = len(chosen)
    if not chosen:
        return report
    conn = await connect(settings)
    publishers = replay_publishers(settings, topic_prefix, tuple({o[0] for o in chosen}))
    await publishers.broker.start()
    try:
        async with conn.transaction():
            fresh = await bookkeeping.record_replays(conn, list(chosen))
            records = [_replayed(origin, *chosen[origin]) for origin in fresh]
            await publish(publishers, records, exact=True)
        report.replayed = fresh
        report.already_replayed = len(chosen) - len(fresh)
        return report
    finally:
        await publishers.broker.stop()
        await conn.close()


async def open_letters(settings: Settings, letters: list[Letter]) -> tuple[list[Letter], int]:
    """The letters with sealed payloads opened, and how many could not be (key destroyed):
    those are left out."""
    found = {}
    if kids := kids_of([headers for _, headers, *_ in letters]):
        pool = await create_pool(settings, min_size=1, max_size=1)
        try:
            found = await build_key_service(settings, pool).keys_by_id(kids)
        finally:
            await pool.close()
    opened, unreadable = [], 0
    for origin, headers, key, value, original in letters:
        if KID in headers or DROPPED in headers:
            value = open_value(headers, value, found)
            if value is None:
                unreadable += 1
                continue
        opened.append((origin, headers, key, value, original))
    return opened, unreadable


async def show(settings: Settings, limit: int, topic_prefix: str = "") -> list[dict[str, Any]]:
    """The last `limit` dead letters on the topic, payloads opened where their key lives
    (`tatawwu dlq show`: personal data, for an operator who asked for it)."""
    letters = (await read_dead_letters(settings, topic_prefix + DEADLETTER.name))[-limit:]
    opened, _ = await open_letters(settings, letters)
    readable = {origin: value for origin, _, _, value, _ in opened}
    return [
        {
            "origin": f"{origin[0]}/{origin[1]}@{origin[2]}",
            "projector": headers.get("projector", b"").decode(),
            "error": headers.get("error", b"").decode(),
            "sealed": headers.get("value_sealed", b"").decode() or "-",
            "payload": readable[origin].decode(errors="replace")
            if readable.get(origin) is not None
            else (
                "[dropped: volunteer erased]"
                if DROPPED in headers
                else "[unreadable: key destroyed]"
            ),
        }
        for origin, headers, _, _, _ in letters
    ]


def _replayed(origin: Origin, key: bytes | None, value: bytes | None, headers: Headers) -> Any:
    """The original record again, with `replayed_from` last; no header added or changed."""
    where = f"{origin[0]}/{origin[1]}@{origin[2]}".encode()
    return Outgoing(origin[0], key, value, [*headers, ("replayed_from", where)], content_type=None)
