"""Projectors running in this event loop on one test's topics, and what they recorded.

`Platform` starts one `ProjectorRuntime` per projector (each its own group and schema),
watches that none of them stops by itself, and stops them all on exit; the readers
below return the dead letters, parked facts and dead-letter topic records of a run,
keyed by the Kafka position of the record concerned.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import asyncpg
import orjson
from aiokafka import TopicPartition

from consumers.runtime import Projector, ProjectorRuntime
from infra.kafka import build_consumer, build_producer
from infra.settings import Settings
from schemas.topics import DEADLETTER, NOTIFICATIONS
from tests.integration.hostile.attacks import NOTIFICATION_TYPES, Attack, Expect, Garbage, judges
from tests.support.projectors import end_offsets, wait_caught_up

Position = tuple[str, int, int]  # (topic as published, partition, offset)
Judgement = tuple[str, str | None, str | None]  # (reason, rule, path)
REFUSAL = re.compile(r"^(?P<rule>\w+) at (?P<path>[\w.]+): ")


async def _noop(*_args: Any) -> None:
    """Applies nothing: the audit projector only judges."""


NOTIFICATION_AUDIT = Projector(
    name="notification_audit",
    topics=(NOTIFICATIONS.name,),
    migrations=(),
    apply=_noop,
    event_types=NOTIFICATION_TYPES,
)
"""A read model of notification facts (none runs in production yet): the runtime judges
`notification.*` only for a projector that handles them, so this one shows what any
future consumer of `tatawwu.notifications` makes of a partner's `notification.sent`."""


class Platform:
    """Projectors running in this event loop until the `async with` block ends."""

    def __init__(
        self, settings: Settings, projectors: dict[str, Projector], prefix: str, tag: str
    ) -> None:
        self.settings, self.prefix = settings, prefix
        self.projectors = projectors
        self.schemas = {name: f"{tag}_{name}" for name in projectors}
        self.runtimes = {
            name: ProjectorRuntime(p, settings, schema=self.schemas[name],
                                   group_id=f"{tag}-{name}", topic_prefix=prefix)
            for name, p in projectors.items()
        }  # fmt: skip
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.stopped_early: dict[str, BaseException | None] = {}  # ended before asked to stop
        self.outcomes: dict[str, BaseException | None] = {}  # how run() ended once asked

    async def __aenter__(self) -> Platform:
        try:
            for runtime in self.runtimes.values():
                await runtime.start()
        except BaseException:
            await self._close()
            raise
        self.tasks = {n: asyncio.create_task(r.run()) for n, r in self.runtimes.items()}
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.check_running()
        for runtime in self.runtimes.values():
            runtime.stopping.set()
        results = await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.outcomes = {n: r for n, r in zip(self.tasks, results, strict=True) if r is not None}
        await self._close()

    async def _close(self) -> None:
        for runtime in self.runtimes.values():
            await runtime.close()

    def check_running(self) -> None:
        """Record every runtime whose run() ended although nobody asked it to stop."""
        for name, task in self.tasks.items():
            if task.done() and name not in self.stopped_early:
                self.stopped_early[name] = task.exception()

    async def caught_up(
        self,
        conn: asyncpg.Connection,
        wait_s: float = 90,
        ends: Mapping[TopicPartition, int] | None = None,
    ) -> None:
        """Wait until every projector stored offsets at the current end of its topics, or
        at `ends` (a partition whose last record was written in a Kafka transaction ends
        with its commit marker: an offset past the last record, which no projector stores).
        """
        for name, projector in self.projectors.items():
            topics = [self.prefix + t for t in projector.topics]
            if ends is None:
                targets = await end_offsets(self.settings, topics)
            else:
                targets = {tp: end for tp, end in ends.items() if tp.topic in topics}
            await wait_caught_up(conn, self.schemas[name], targets, wait_s, check=self._alive)

    def _alive(self) -> None:
        self.check_running()
        assert not self.stopped_early, f"runtimes stopped by themselves: {self.stopped_early}"


async def publish(
    settings: Settings, records: Sequence[tuple[str, bytes | None, bytes | None]]
) -> list[Position]:
    """Send (topic, key, value) records in order, one producer; return where each landed."""
    producer = build_producer(settings, max_request_size=4 << 20)
    await producer.start()
    try:
        futures = [await producer.send(t, v, key=k) for t, k, v in records]
        landed = [await f for f in futures]
    finally:
        await producer.stop()
    return [(m.topic, m.partition, m.offset) for m in landed]


def judgement(reason: str, detail: str) -> Judgement:
    """(reason, rule, path) of a dead letter: rule and path when the ownership rules refused."""
    match = REFUSAL.match(detail)
    if reason in ("not_owner", "platform_only", "organization_suspended", "time_in_future",
                  "time_before_epoch") and match:  # fmt: skip
        return reason, match["rule"], match["path"]
    return reason, None, None


async def dead_letters(conn: asyncpg.Connection, schema: str) -> dict[Position, tuple[str, str]]:
    """Every dead letter of a projector: position -> (reason, detail)."""
    rows = await conn.fetch(
        f'select topic, kafka_partition, kafka_offset, reason, detail from "{schema}"._deadletters'
    )
    return {(r[0], r[1], r[2]): (r[3], r[4]) for r in rows}


async def parked(conn: asyncpg.Connection, schema: str) -> dict[Position, tuple[str, str, str]]:
    """Every parked fact of a projector: position -> (needs kind, needs id, event identity)."""
    rows = await conn.fetch(
        f"select topic, kafka_partition, kafka_offset, needs_kind, needs_id, event_identity"
        f' from "{schema}"._parked'
    )
    return {(r[0], r[1], r[2]): (r[3], r[4], r[5]) for r in rows}


async def dead_letter_topic(settings: Settings, prefix: str) -> dict[str, dict[Position, str]]:
    """The prefixed dead-letter topic: projector -> original position -> error header."""
    consumer = build_consumer(settings)
    await consumer.start()
    found: dict[str, dict[Position, str]] = {}
    try:
        tp = TopicPartition(prefix + DEADLETTER.name, 0)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        while await consumer.position(tp) < end:
            for records in (await consumer.getmany(tp, timeout_ms=1000)).values():
                for record in records:
                    h = {k: v.decode() for k, v in record.headers}
                    origin = (h["original_topic"], int(h["original_partition"]),
                              int(h["original_offset"]))  # fmt: skip
                    found.setdefault(h["projector"], {})[origin] = h["error"]
    finally:
        await consumer.stop()
    return found


def expected_dead_letters(
    projector: Projector,
    prefix: str,
    attacks: Sequence[tuple[Attack, Position]],
    garbage: Sequence[tuple[Garbage, Position]],
) -> dict[Position, Judgement]:
    """What `projector` must have dead-lettered: every attack it judges, every garbage record
    on a topic it consumes (refusals with their rule and path; decode failures by reason)."""
    expected: dict[Position, Judgement] = {}
    for attack, position in attacks:
        if isinstance(attack.expect, Expect) and judges(projector, attack.type):
            expected[position] = (attack.expect.reason, attack.expect.rule, attack.expect.path)
    for bad, position in garbage:
        if bad.topic in projector.topics:
            expected[position] = (bad.reason, None, None)
    assert all(p[0].startswith(prefix) for p in expected)
    return expected


async def records_between(
    settings: Settings, start: dict[TopicPartition, int], end: dict[TopicPartition, int]
) -> list[dict[str, Any]]:
    """The JSON objects of the records from `start` up to `end` (others skipped)."""
    wanted = [tp for tp in end if end[tp] > start.get(tp, 0)]
    if not wanted:
        return []
    consumer = build_consumer(settings)
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        consumer.assign(wanted)
        for tp in wanted:
            consumer.seek(tp, start.get(tp, 0))
        while [tp for tp in wanted if await consumer.position(tp) < end[tp]]:
            for tp, records in (await consumer.getmany(*wanted, timeout_ms=1000)).items():
                for record in records:
                    if record.offset < end[tp]:
                        found.append(_object(record.value))
    finally:
        await consumer.stop()
    return [doc for doc in found if doc]


def _object(value: bytes | None) -> dict[str, Any]:
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return {}
    return doc if isinstance(doc, dict) else {}
