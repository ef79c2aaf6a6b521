"""Run the router: a FastStream batch subscriber on every ingress topic, one transaction a batch.

Per batch: decode every record, judge each organisation's events with the shared
admission (`infra.admission`), then in one Kafka transaction forward the accepted events,
dead-letter the refused records, add the consumed offsets, store the claims and count in
PostgreSQL (both before the commit), commit (`consumers.router.transaction`). On any
failure: abort, seek back to where the batch began, drop the producer; before the next
batch a new producer (same transactional id) settles the failed transaction and the
group's committed offsets are read again, so the records come again and those a
lost-answer commit did forward are dropped.

What FastStream (0.7.8, read from its source) does here, and what it cannot:
- The subscription is FastStream's (`broker.subscriber(pattern=..., batch=True)`), so the
  app and its AsyncAPI description come from one declaration, and it owns the consumer's
  lifecycle. `pattern` goes to aiokafka's `subscribe(pattern=...)`; the broker's
  `metadata_max_age_ms` (3 s) bounds how long a new partner's topic waits.
- `ack_policy=MANUAL`: the default `ACK_FIRST` turns aiokafka's auto-commit on
  (at-most-once); under `MANUAL` nothing commits unless the handler acks, and the router
  never does: its offsets are committed by the transaction (`send_offsets_to_transaction`).
- A raw parser and a no-op decoder: FastStream's batch parser decodes every header value
  as UTF-8 (one partner's binary header would fail the whole batch before the handler)
  and its decoder parses every value as JSON; the router decodes each record once with
  `schemas.binding.decode_record`, which never raises.
- A handler that raises under `MANUAL` is logged and the consumer goes on past the batch
  (its position already moved): so the handler catches everything itself and seeks back
  through the subscriber's aiokafka consumer (`subscriber.consumer`).
- No transactions: FastStream's broker has one non-transactional producer and no API to
  begin, commit or abort, or to add offsets to a transaction; the transaction is a raw
  aiokafka producer's (`infra.kafka.build_producer(transactional_id=...)`).
- `isolation_level=read_committed` on the ingress topics (a partner's aborted
  transaction is never forwarded); static membership (`group_instance_id`), so a
  restarted router takes its partitions back at once.

Order at start: the transactional producer first (its `init_transactions` fences a killed
predecessor and settles its open transaction), then the subscriber, whose consumer then
reads offsets no pending transaction can still move.

Records at offsets below what this process last committed are dropped before judging: a
rebalance (a new partner's topic matched by the pattern) resets positions to the group's
committed offsets, which may have been read before the batch in flight committed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from consumers.router import metrics
from consumers.router.counts import ensure_tables, group_for, record_counts, schema_for
from consumers.router.plan import ACCEPTED, NAME, Outcome, decode_batch, outcome
from consumers.router.transaction import Transactor
from consumers.runtime import tune_gc
from consumers.runtime.batch import Record
from infra.admission import Admission, ClaimCache, LostRace
from infra.claims import ensure_registry, registry_schema
from infra.db import create_pool
from infra.kafka import build_broker
from infra.ops import start_ops_server
from infra.settings import Settings
from schemas.admission import Organisation
from schemas.topics import INGRESS_PREFIX

log = structlog.get_logger(__name__)

MAX_RECORDS = 10_000  # per batch: one transaction and one counts update each
BATCH_TIMEOUT_MS = 100
METADATA_MAX_AGE_MS = 3_000  # a new partner's ingress topic is subscribed within seconds
MAX_BACKOFF_S = 5.0
RACE_ROUNDS = 5  # a claim lost to another entry point at most this often in a row
DESCRIPTION = (
    "The Kafka-ingress router: validates each partner's records, judges them as the "
    "organisation the topic belongs to, forwards accepted events to the canonical topics "
    "and refused records to the dead-letter topic, exactly once (Kafka transactions)."
)


async def raw_parser(records: tuple[Record, ...]) -> StreamMessage[Any]:
    """The batch as FastStream's message, untouched: no header is decoded as text.

    FastStream's own batch parser decodes every header value as UTF-8 (a partner's
    binary header would make the whole batch fail) and its decoder parses every value as
    JSON (the router decodes with `schemas.binding.decode_record`, once).
    """
    return StreamMessage(raw_message=records, body=b"")


async def raw_decoder(message: StreamMessage[Any]) -> None:
    """Nothing to decode: the handler reads the raw records."""
    return


class Router:
    """The router's state: the admission, the transactional producer, the counts' pool."""

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
        self.consumer: Any = None  # the subscriber's aiokafka consumer, once started
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
        await self.transactor.start()
        self.started = True

    async def close(self) -> None:
        """Stop the producer and close the pool."""
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

    async def handle(self, records: Sequence[Record]) -> None:
        """Route one fetched batch; on failure rewind so that it is read again."""
        began = time.perf_counter()
        try:
            if self.resync:
                await self.transactor.ensure_started()  # settles the last transaction
                await self.sync_committed()
                self.resync = False
            fresh = [r for r in records if r.offset >= self.committed.get(_tp(r), 0)]
            if not fresh:
                return
            out = await self.route(fresh)
        except Exception as exc:
            self.failures += 1
            self.resync = True
            metrics.BATCHES.labels("aborted").inc()
            log.warning("batch_aborted", records=len(records), error=type(exc).__name__,
                        detail=str(exc)[:200], failures=self.failures)  # fmt: skip
            self.rewind(records)
            await self.transactor.abandon()
            await asyncio.sleep(min(MAX_BACKOFF_S, 0.1 * 2**self.failures))
            return
        self.failures = 0
        self.committed.update(out.offsets)
        self.observe(fresh, out, time.perf_counter() - began)

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

    async def route(self, records: Sequence[Record]) -> Outcome:
        """Decode, judge, and commit one batch in one transaction.

        The claims are stored while the records are sent (both before the commit); a
        claim another entry point made first aborts the transaction, and the batch is
        judged again at once, the winner's claim now known.
        """
        assert self.admission is not None
        clock = time.perf_counter
        began = clock()
        decoded = decode_batch(records, self.topic_prefix)
        decoded_at = clock()
        for _ in range(RACE_ROUNDS):
            groups = [(Organisation(org), b.events, b.entered) for org, b in decoded.by_org.items()]
            judged, claims = await self.admission.judge_batch(groups)
            refusals = dict(zip(decoded.by_org, judged, strict=True))
            judged_at = clock()
            out = outcome(records, decoded, refusals, self.topic_prefix)
            planned_at = clock()
            try:
                await self.transactor.commit(
                    out.sends, out.offsets, self.counter(out),
                    functools.partial(self.admission.store, claims),
                )  # fmt: skip
            except LostRace:
                await self.transactor.abort()
                log.info("claims_race_lost", records=len(records))
                continue
            out.timings = {"decode_ms": decoded_at - began, "judge_ms": judged_at - decoded_at,
                           "plan_ms": planned_at - judged_at, "commit_ms": clock() - planned_at}  # fmt: skip
            return out
        msg = f"claims kept changing under {RACE_ROUNDS} rounds of judging"
        raise RuntimeError(msg)

    def counter(self, out: Outcome) -> Callable[[], Awaitable[None]]:
        """The counts' PostgreSQL transaction for `out` (run before the Kafka commit)."""
        pool = self.pool
        assert pool is not None

        async def count() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await record_counts(conn, self.schema, out.tallies, out.dead)

        return count

    def rewind(self, records: Sequence[Record]) -> None:
        """Seek each partition of a failed batch back to where the batch began."""
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


def ingress_pattern(topic_prefix: str = "") -> str:
    """The subscription: every organisation's ingress topic (FastStream path syntax)."""
    return f"{topic_prefix}{INGRESS_PREFIX}{{org}}"


def build_router_broker(
    settings: Settings | None, router: Router | None, *, topic_prefix: str = "",
    instance_id: str = "router-1", max_records: int = MAX_RECORDS,
) -> KafkaBroker:  # fmt: skip
    """The FastStream broker with the router's subscriber (`settings=None`: AsyncAPI only)."""
    if settings is None:
        broker = KafkaBroker("kafka.tatawwu.example:9092")
    else:
        # FastStream's own "Received"/"Processed" lines at DEBUG: `batch_routed` is the
        # one summary line per batch (structured, counts only).
        broker = build_broker(settings, metadata_max_age_ms=METADATA_MAX_AGE_MS,
                              log_level=logging.DEBUG)  # fmt: skip
    subscriber = broker.subscriber(
        pattern=ingress_pattern(topic_prefix),
        group_id=router.group if router is not None else group_for(topic_prefix),
        group_instance_id=f"{topic_prefix}{instance_id}",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=BATCH_TIMEOUT_MS,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        ack_policy=AckPolicy.MANUAL,  # never commits: the offsets go in the transaction
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        parser=raw_parser,
        decoder=raw_decoder,
        title=f"{INGRESS_PREFIX}{{org}}:{NAME}",
        description=DESCRIPTION,
    )

    @subscriber
    async def route(message: KafkaMessage) -> None:
        if router is not None:
            router.consumer = subscriber.consumer
            await router.handle(message.raw_message)

    return broker


async def serve(
    settings: Settings,
    *,
    topic_prefix: str = "",
    instance_id: str = "router-1",
    metrics_port: int | None = None,
    max_records: int = MAX_RECORDS,
    stopping: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> None:
    """Route until SIGTERM/SIGINT (or `stopping`); the batch in flight finishes first."""
    stopping = stopping or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    router = Router(settings, topic_prefix=topic_prefix, instance_id=instance_id)
    ops = None
    if metrics_port:
        ops = await start_ops_server(settings.metrics_host, metrics_port, router.readiness)
    broker = build_router_broker(settings, router, topic_prefix=topic_prefix,
                                 instance_id=instance_id, max_records=max_records)  # fmt: skip
    await router.start()  # fences a predecessor before the consumer reads offsets
    try:
        await broker.start()
        tune_gc()
        log.info("router_started", group=router.group, instance=instance_id,
                 pattern=ingress_pattern(topic_prefix))  # fmt: skip
        await stopping.wait()
    finally:
        await broker.stop()
        await router.close()
        if ops is not None:
            ops.close()
        log.info("router_stopped")
