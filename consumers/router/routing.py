"""The router's batch loop: decode, judge, one transaction per batch, two batches overlapped.

Per batch: decode every record, judge each organisation's events with the shared
admission (`infra.admission`), then in one Kafka transaction forward the accepted events,
dead-letter the refused records, add the consumed offsets, store the claims and count in
PostgreSQL (both before the commit), commit (`consumers.router.transaction`).

Two batches overlap: a batch's transaction runs as a task while the next batch is
decoded (decoding is half the router's CPU, the transaction mostly waits on the broker
and PostgreSQL); the next batch is judged only once that transaction ended, so it sees
the claims the previous one stored, and starts its own only then (one open transaction
per producer). Measured: benchmarks/bench_router.py.

On any failure: abort, seek back to where the failed batch (and the one read after it)
began, drop the producer; before the next batch a new producer (same transactional id)
settles the failed transaction and the group's committed offsets are read again, so the
records come again and those a lost-answer commit did forward are dropped. Records at
offsets below what this process committed are dropped before judging: a rebalance (a new
partner's topic matched by the pattern) resets positions to the group's committed
offsets, which may have been read before the batch in flight committed. That memory holds
only while the partition is this process's and its log the same: a partition taken away is
forgotten (`assigned`; the transaction in flight ends first, `revoking`), and so is one
whose log ends before the remembered offset (a deleted topic made again: `unrouted`), so
a new log's records, from offset 0, are never taken for routed ones. Kafka's own limit
stays: a topic deleted and made again within one metadata refresh, whose new log has
grown past the consumer's position before its next fetch, is read from that position.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import TopicPartition

from consumers.router import metrics
from consumers.router.counts import ensure_tables, group_for, record_counts, schema_for
from consumers.router.plan import ACCEPTED, Decoded, Outcome, decode_batch, outcome
from consumers.router.sealing import keys_or_refusals, sealed_sends
from consumers.router.transaction import Transactor
from consumers.runtime.batch import Record
from consumers.sealed_letters import seal_letters
from infra.admission import Admission, ClaimCache, LostRace
from infra.claims import ensure_registry, registry_schema
from infra.db import create_pool
from infra.keys import KeyService, build_key_service
from infra.settings import Settings
from schemas.admission import Organisation

log = structlog.get_logger(__name__)

MAX_BACKOFF_S = 5.0
RACE_ROUNDS = 5  # a claim lost to another entry point at most this often in a row
DRAIN_TIMEOUT_S = 35.0  # the transaction in flight at stop (its own bound is 30 s)


class Router:
    """The router's state: the admission, the transactional producer, the batch in flight."""

    def __init__(
        self, settings: Settings, *, topic_prefix: str = "", instance_id: str = "router-1",
        group_id: str | None = None,
    ) -> None:  # fmt: skip
        self.settings, self.topic_prefix, self.instance_id = settings, topic_prefix, instance_id
        self.group = group_id or group_for(topic_prefix)
        self.schema = schema_for(topic_prefix)
        self.transactor = Transactor(settings, f"tatawwu-router-{instance_id}", self.group)
        self.committed: dict[TopicPartition, int] = {}  # next offset, as this process committed
        self.pool: asyncpg.Pool | None = None
        self.admission: Admission | None = None
        self.keys: KeyService | None = None  # encrypts personal fields (off: baseline only)
        self.consumer: Any = None  # the subscriber's aiokafka consumer, once started
        self.inflight: asyncio.Task[None] | None = None  # the last batch's transaction
        self.inflight_records: Sequence[Record] = ()
        self.failures = 0
        self.resync = False  # after a failure: read the group's committed offsets first
        self.started = False

    async def start(self) -> None:
        """The pool, the registry and counts tables, and the transactional producer."""
        self.pool = await create_pool(self.settings, min_size=1, max_size=4)
        registry = registry_schema(self.topic_prefix)
        async with self.pool.acquire() as conn:
            await ensure_registry(conn, registry)
            await ensure_tables(conn, self.schema)
        cache = ClaimCache(self.settings.gateway_key_cache_s)
        self.admission = Admission(self.pool, registry, cache, self.settings.time_bounds)
        if self.settings.encrypt_personal:
            self.keys = build_key_service(self.settings, self.pool)
        await self.transactor.start()
        self.started = True

    async def close(self) -> None:
        """Let the transaction in flight end, stop the producer, close the pool."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.settle(), DRAIN_TIMEOUT_S)
        await self.transactor.stop()
        if self.pool is not None:
            await self.pool.close()

    async def readiness(self) -> str | None:
        """Why the router cannot route now, or None."""
        if not self.started:
            return "starting"
        if self.failures >= 3:
            return f"{self.failures} batches in a row failed; retrying"
        return None

    def unrouted(self, records: Sequence[Record]) -> list[Record]:
        """The records at or past what this process committed.

        Unless the partition's log now ends before that offset: a log never shrinks, so it
        is another log (the topic deleted and made again under the same name), whose
        records nobody routed yet; what was committed of the old one is forgotten.
        """
        committed = self.committed  # TopicPartition keys: a (topic, partition) tuple finds them
        kept = [r for r in records if r.offset >= committed.get((r.topic, r.partition), 0)]
        if len(kept) == len(records):
            return kept
        below = {
            (r.topic, r.partition)
            for r in records
            if r.offset < committed.get((r.topic, r.partition), 0)
        }
        replaced = False
        for where in below:
            high = self.consumer.highwater(TopicPartition(*where)) if self.consumer else None
            if high is not None and high < committed[where]:
                log.warning("ingress_log_replaced", topic=where[0], partition=where[1],
                            committed=committed.pop(where), end=high)  # fmt: skip
                replaced = True
        if not replaced:
            return kept
        return [r for r in records if r.offset >= committed.get((r.topic, r.partition), 0)]

    async def revoking(self) -> None:
        """Before partitions are taken away: let the transaction in flight end, so what it
        committed is in the group's offsets that the next owner (or this process) reads."""
        if self.inflight is not None:
            await asyncio.wait([self.inflight], timeout=DRAIN_TIMEOUT_S)

    def assigned(self, partitions: Collection[TopicPartition]) -> None:
        """Forget what this process committed on partitions it no longer holds: another
        router's commits move them meanwhile, and a deleted topic's name may come back as
        a new log from offset 0 (the group's offsets then start again, ours would not)."""
        for tp in [tp for tp in self.committed if tp not in partitions]:
            del self.committed[tp]

    async def handle(self, records: Sequence[Record]) -> None:
        """Route one fetched batch: decoded while the previous one commits, then judged and
        its transaction started (not awaited: the next batch's decoding overlaps it)."""
        began = time.perf_counter()
        positions = await self.positions(records)  # first: before anything else runs
        fresh = self.unrouted(records)
        decoded = decode_batch(fresh, self.topic_prefix) if fresh else None
        failed = await self.settle()
        if failed is not None:
            await self.fail([*failed[0], *records], failed[1])
            return
        try:
            if self.resync:
                await self.transactor.ensure_started()  # settles the last transaction
                await self.sync_committed()
                self.resync = False
            again = self.unrouted(fresh)
            if len(again) != len(fresh):  # committed meanwhile (a rebalance redelivered them)
                fresh, decoded = again, decode_batch(again, self.topic_prefix)
            if not fresh or decoded is None:
                return
            out, claims = await self.judge(fresh, decoded, positions)
        except Exception as exc:
            await self.fail(records, exc)
            return
        self.inflight_records = fresh
        self.inflight = asyncio.create_task(
            self.commit(fresh, decoded, positions, out, claims, began)
        )
        self.inflight.add_done_callback(functools.partial(self._rewind_on_failure, fresh))

    def _rewind_on_failure(self, records: Sequence[Record], task: asyncio.Task[None]) -> None:
        """A transaction that failed while no batch came after it: its records are read
        again (the next `handle` learns of the failure from `settle`, and aborts)."""
        if not task.cancelled() and task.exception() is not None:
            self.rewind(records)

    async def settle(self) -> tuple[Sequence[Record], Exception] | None:
        """Wait for the transaction in flight; its records and error when it failed."""
        task, self.inflight = self.inflight, None
        if task is None:
            return None
        try:
            await task
        except Exception as exc:
            return self.inflight_records, exc
        return None

    async def positions(self, records: Sequence[Record]) -> dict[TopicPartition, int]:
        """Where the consumer stands on each partition of a batch just fetched.

        Past the last record, and past what a read_committed fetch stepped over after it
        (a partner's transaction markers, its aborted records): committed as the batch's
        offsets, so the router's lag reaches 0 on a transactional partner's topic.
        """
        consumer = self.consumer
        found: dict[TopicPartition, int] = {}
        if consumer is None:
            return found
        assigned = consumer.assignment()
        for where in {(r.topic, r.partition) for r in records}:
            tp = TopicPartition(*where)
            if tp in assigned:
                with contextlib.suppress(Exception):  # unknown: the last record's + 1 then
                    found[tp] = await asyncio.wait_for(consumer.position(tp), 0.05)
        return found

    async def judge(
        self, records: Sequence[Record], decoded: Decoded, positions: dict[TopicPartition, int]
    ) -> tuple[Outcome, Any]:
        """Each organisation's events judged: what to send, and the claims to store."""
        assert self.admission is not None
        groups = [(Organisation(org), b.events, b.entered) for org, b in decoded.by_org.items()]
        judged, claims = await self.admission.judge_batch(groups)
        refusals = dict(zip(decoded.by_org, judged, strict=True))
        found = await keys_or_refusals(self.keys, decoded, refusals) if self.keys else {}
        out = outcome(records, decoded, refusals, self.topic_prefix)
        if found:
            out.sends = sealed_sends(out.sends, found)  # nothing personal leaves in clear
        if self.keys is not None and out.dead:  # nor in a dead letter (consumers/sealed_letters)
            out.sends = await seal_letters(self.keys, out.sends, self.topic_prefix)
        for tp, offset in out.offsets.items():
            out.offsets[tp] = max(offset, positions.get(tp, 0))
        return out, claims

    async def commit(
        self, records: Sequence[Record], decoded: Decoded, positions: dict[TopicPartition, int],
        out: Outcome, claims: Any, began: float,
    ) -> None:  # fmt: skip
        """The batch's transaction; judged again at once when a claim was lost to another
        entry point (its claim is then known)."""
        assert self.admission is not None
        judged_at = time.perf_counter()
        for _ in range(RACE_ROUNDS):
            try:
                await self.transactor.commit(  # the claims first: a lost race counts nothing
                    out.sends, out.offsets, functools.partial(self.admission.store, claims),
                    self.counter(out),
                )  # fmt: skip
                break
            except LostRace:
                await self.transactor.abort()
                log.info("claims_race_lost", records=len(records))
                out, claims = await self.judge(records, decoded, positions)
        else:
            msg = f"claims kept changing under {RACE_ROUNDS} rounds of judging"
            raise RuntimeError(msg)
        self.failures = 0
        self.committed.update(out.offsets)
        now = time.perf_counter()
        out.timings = {"judged_ms": judged_at - began, "commit_ms": now - judged_at}
        self.observe(records, out, now - began)

    def counter(self, out: Outcome) -> Callable[[], Awaitable[None]]:
        """The counts' PostgreSQL transaction for `out` (run before the Kafka commit)."""
        pool = self.pool
        assert pool is not None

        async def count() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await record_counts(conn, self.schema, out.tallies, out.dead)

        return count

    async def fail(self, records: Sequence[Record], exc: Exception) -> None:
        """Abort: read the records again from where they began, with a fresh producer."""
        self.failures += 1
        self.resync = True
        metrics.BATCHES.labels("aborted").inc()
        log.warning("batch_aborted", records=len(records), error=type(exc).__name__,
                    detail=str(exc)[:200], failures=self.failures)  # fmt: skip
        self.rewind(records)
        await self.transactor.abandon()
        await asyncio.sleep(min(MAX_BACKOFF_S, 0.1 * 2**self.failures))

    async def sync_committed(self) -> None:
        """Take the group's committed offsets as what was forwarded (after a failure).

        A commit whose answer was lost did happen when the group's offset moved: the
        records below it are then dropped from the batch read again, not sent twice.
        """
        consumer = self.consumer
        if consumer is None:
            return
        for tp in consumer.assignment():
            offset = await consumer.committed(tp)
            if offset is not None:
                self.committed[tp] = max(offset, self.committed.get(tp, 0))

    def rewind(self, records: Sequence[Record]) -> None:
        """Seek each partition back to its first record here (earlier batches first)."""
        first: dict[TopicPartition, int] = {}
        for r in records:
            first.setdefault(_tp(r), r.offset)
        consumer = self.consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        for tp, offset in first.items():
            if tp in assigned:
                consumer.seek(tp, offset)

    def observe(self, records: Sequence[Record], out: Outcome, elapsed: float) -> None:
        """Metrics and the batch's one summary line (counts only: never event data)."""
        accepted = refused = 0
        for (org, result, rule), n in out.counts().items():
            metrics.EVENTS.labels(org, result, rule).inc(n)
            if result == ACCEPTED:
                accepted += n
            else:
                refused += n
        metrics.BATCHES.labels("committed").inc()
        metrics.BATCH_SIZE.observe(len(records))
        metrics.BATCH_SECONDS.observe(elapsed)
        if self.consumer is not None:
            assigned = self.consumer.assignment()
            for tp, next_offset in out.offsets.items():
                high = self.consumer.highwater(tp) if tp in assigned else None
                if high is not None:
                    metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - next_offset))
        log.info("batch_routed", records=len(records), accepted=accepted, refused=refused,
                 partitions=len(out.offsets), duration_ms=round(elapsed * 1000, 1),
                 **{k: round(v * 1000, 1) for k, v in out.timings.items()})  # fmt: skip


def _tp(record: Record) -> TopicPartition:
    return TopicPartition(record.topic, record.partition)
