"""The Kafka loop: join the group, seek to PostgreSQL's offsets, fetch, pipeline, retry."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from consumers import metrics
from consumers.runtime import bookkeeping
from consumers.runtime.batch import BatchOutcome, DecodedBatch, Fetched, Record, decode, group
from consumers.runtime.errors import TRANSIENT, OffsetGap
from consumers.runtime.gate import OwnershipGate
from consumers.runtime.markers import MARKERS_EVERY_S, step_over_markers
from consumers.runtime.observe import observe_batch
from consumers.runtime.projector import Projector, applier
from consumers.runtime.transaction import BatchTransaction
from infra import claims as claims_registry
from infra.db import create_pool, init_connection
from infra.kafka import build_consumer, build_producer, end_offsets
from infra.keys import build_key_service
from infra.settings import Settings
from schemas.topics import CAMPAIGNS, DEADLETTER, ORGANIZATIONS

log = structlog.get_logger(__name__)

# While a batch's transaction is in flight the next is fetched and decoded in slices that
# yield to the event loop: each statement is sent as soon as PostgreSQL answers the last.
FETCH_SLICE = 500  # records taken from aiokafka's buffer per getmany (~1 ms to parse)
PARKED_SWEEP_S = 2.0  # while idle with facts parked, look at them this often
LAG_COMMIT_S = 2.0  # Kafka's committed offsets (for lag tools only) at most this often
READY_DB_TIMEOUT_S = 3.0  # `readiness`: PostgreSQL must answer `select 1` within this
# Topics whose records make the claims other facts wait for (see `_claims_first`).
CLAIM_TOPICS = (CAMPAIGNS.name, ORGANIZATIONS.name)


class ProjectorRuntime:
    """Runs one projector instance: one consumer in the projector's group."""

    def __init__(
        self,
        projector: Projector,
        settings: Settings,
        *,
        schema: str | None = None,
        group_id: str | None = None,
        instance_id: str | None = None,
        max_records: int = 5000,
        stop_at: dict[TopicPartition, int] | None = None,
        topic_prefix: str = "",
    ) -> None:
        self.projector, self.settings, self.instance_id = projector, settings, instance_id
        self.schema = schema or projector.schema
        self.group_id = group_id or f"tatawwu.projector.{projector.name}"
        self.max_records = max_records
        self.stop_at = stop_at  # rebuilds stop once every partition reached these offsets
        self.topic_prefix = topic_prefix  # tests' isolated topics: "<prefix>tatawwu.signups"
        self.stopping = asyncio.Event()
        self._lock = asyncio.Lock()  # held while a batch is applied; revocation waits for it
        self._pool: asyncpg.Pool | None = None
        self._consumer: Any = None
        self._producer: Any = None
        self.applied: dict[TopicPartition, int] = {}  # next offset stored, per partition
        self.registry = claims_registry.registry_schema(topic_prefix)
        self.log = log.bind(projector=projector.name, schema=self.schema)
        self.gate = OwnershipGate(
            projector.event_types, self.registry, settings.time_bounds, log=self.log
        )
        self._paused: set[TopicPartition] = set()  # waiting for the claim topics (catch-up)
        self._claim_targets: dict[TopicPartition, int] = {}
        self._transaction: BatchTransaction | None = None
        self.batch_failure: str | None = None  # the last batch's error, until one commits

    # ----------------------------------------------------------------- set-up
    async def start(self) -> None:
        """Prepare the schema, connect to PostgreSQL and Kafka, join the group."""
        self._pool = await create_pool(
            self.settings,
            min_size=1,
            max_size=3,
            server_settings={
                "search_path": f'"{self.schema}"',
                "application_name": self.group_id,
                # Safe here, unlike in most systems: a commit lost in a PostgreSQL crash
                # loses its offsets with it, so the batch is simply consumed again from
                # Kafka (the source of truth). Read-model changes and offsets can never
                # disagree; only the last few milliseconds of work are redone.
                "synchronous_commit": "off",
            },
            # No prepared-statement cache: names resolve on every statement, so after a
            # rebuild swaps schemas this process writes to the new tables at once.
            statement_cache_size=0,
            init=self._connected,
        )
        async with self._pool.acquire() as conn:
            await claims_registry.ensure_registry(conn, self.registry)
            await bookkeeping.prepare_schema(conn, self.projector, self.schema)
        # Encrypted personal fields are opened while decoding: one key lookup per batch.
        self.gate.open_with(build_key_service(self.settings, self._pool))
        self._producer = build_producer(self.settings)
        await self._producer.start()
        self._transaction = BatchTransaction(
            self.projector, applier(self.projector), self.gate, self._producer,
            self.topic_prefix + DEADLETTER.name, self.log,
        )  # fmt: skip
        options: dict[str, Any] = {
            "group_id": self.group_id,
            "max_poll_records": self.max_records,
            "fetch_max_bytes": 16 * 1024 * 1024,
            "max_partition_fetch_bytes": 4 * 1024 * 1024,
            "session_timeout_ms": 10_000,
            "heartbeat_interval_ms": 1_000,
        }
        if self.instance_id:
            # Static membership: a restarted instance takes its partitions straight back.
            options["group_instance_id"] = self.instance_id
        self._consumer = build_consumer(self.settings, **options)
        topics = [self.topic_prefix + t for t in self.projector.topics]
        self._consumer.subscribe(topics, listener=_Listener(self))
        await self._consumer.start()

    async def _connected(self, conn: asyncpg.Connection) -> None:
        """Every new connection (the first ones, or after PostgreSQL restarted): see
        `OwnershipGate.forget` for why the claims cache is dropped."""
        await init_connection(conn)
        self.gate.forget()

    async def close(self) -> None:
        """Leave the group and close connections (after the batch in flight)."""
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()

    async def readiness(self) -> str | None:
        """Why this instance cannot apply batches now, or None: what its `/ready` answers."""
        if self._consumer is None or not self._consumer.assignment():
            return "no partitions assigned"
        if self.batch_failure is not None:
            return f"last batch failed: {self.batch_failure}"
        try:  # an idle projector meets PostgreSQL only when records come: ask it now
            assert self._pool is not None
            await asyncio.wait_for(self._pool.fetchval("select 1"), READY_DB_TIMEOUT_S)
        except Exception as exc:
            return f"postgres unreachable: {type(exc).__name__}"
        return None

    async def stored_offsets(
        self, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The next offsets PostgreSQL holds for these partitions (absent: never applied)."""
        assert self._pool is not None
        return await bookkeeping.stored_offsets(self._pool, partitions)

    async def seek_to_stored(self, partitions: Sequence[TopicPartition]) -> None:
        """Position the consumer at the stored offsets; the beginning where none is stored."""
        stored = await self.stored_offsets(partitions)
        for tp in partitions:
            # Never lower: a batch applied here meanwhile may already be past this read.
            self.applied[tp] = max(self.applied.get(tp, 0), stored.get(tp, 0))
            if tp in stored:
                self._consumer.seek(tp, stored[tp])
            else:
                await self._consumer.seek_to_beginning(tp)
        self.log.info(
            "partitions_positioned",
            positions={f"{tp.topic}/{tp.partition}": stored.get(tp, 0) for tp in partitions},
        )
        await self._claims_first(partitions, stored)

    async def _claims_first(
        self, partitions: Sequence[TopicPartition], stored: dict[TopicPartition, int]
    ) -> None:
        """Catching up, read the claim topics (campaigns, organizations) before the rest.

        Facts met before the claim that decides their owner are parked and freed later:
        correct, but costly when a projector catches up from far behind (a first start, a
        rebuild), where whole topics would be parked. So until the claim partitions it was
        given reach the end they had at assignment, the others are paused.
        """
        self._paused = set()
        claim_topics = {self.topic_prefix + t for t in CLAIM_TOPICS}
        claims = [tp for tp in partitions if tp.topic in claim_topics]
        others = [tp for tp in partitions if tp.topic not in claim_topics]
        if not claims or not others:
            return
        ends = await end_offsets(self.settings, partitions=claims, consumer=self._consumer)
        self._claim_targets = {tp: end for tp, end in ends.items() if end > stored.get(tp, 0)}
        if self._claim_targets:
            self._paused = set(others)
            self._consumer.pause(*others)
            self.log.info("claims_first", claim_partitions=len(self._claim_targets))

    async def _track_claims_first(self) -> None:
        """Resume the paused partitions once the claim partitions reached their targets.

        Positions, not the records of the last fetch: the claim partitions may have been
        read to their end while their targets were being computed.
        """
        assigned = self._consumer.assignment()
        for tp in list(self._claim_targets):
            if tp not in assigned or await self._position(tp) >= self._claim_targets[tp]:
                del self._claim_targets[tp]
        if not self._claim_targets:
            self._consumer.resume(*(tp for tp in self._paused if tp in assigned))
            self.log.info("claims_read_first", resumed=len(self._paused))
            self._paused = set()

    async def _position(self, tp: TopicPartition) -> int:
        """The next offset to fetch, or -1 while the fetcher has not settled it yet."""
        try:
            return int(await asyncio.wait_for(self._consumer.position(tp), 0.05))
        except (TimeoutError, KafkaError):
            return -1

    # ------------------------------------------------------------------ loop
    async def run(self) -> None:
        """Consume and apply until `stopping` is set (or `stop_at` is reached).

        Two-stage pipeline: while batch N's transaction waits on PostgreSQL, batch N+1
        is fetched and decoded (CPU). Batches still commit strictly one after another;
        if N fails, N+1 is dropped and both are fetched again from N's first offsets.
        """
        backoff = 0.2
        last_commit = last_sweep = last_markers = time.monotonic()
        in_flight: tuple[asyncio.Task[BatchOutcome], Fetched] | None = None
        lag_commit: asyncio.Task[None] | None = None
        while True:
            stop_now = self.stopping.is_set()
            batch: Fetched = {}
            if not stop_now:
                try:
                    batch = await self._fetch()
                except KafkaError as exc:
                    self.log.warning("fetch_failed", error=str(exc))
                    await asyncio.sleep(backoff)
            decoded = await self._decode(batch) if batch else None
            if in_flight is not None:
                task, previous = in_flight
                in_flight = None
                try:
                    outcome = await task
                    self.applied.update(outcome.offsets)
                    backoff = 0.2
                except OffsetGap as gap:
                    self.log.warning("offset_gap_refetch", positions=str(gap))
                    self._rewind(batch, previous)  # nothing of either was stored
                    for tp, offset in gap.positions.items():
                        if tp in self._consumer.assignment():
                            self._consumer.seek(tp, offset)
                    continue
                except TRANSIENT as exc:
                    self.log.warning(
                        "batch_retry",
                        error=type(exc).__name__,
                        detail=str(exc)[:200],
                        backoff_s=backoff,
                    )
                    metrics.RETRIES.labels(self.projector.name).inc()
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 5.0)
                    self._rewind(batch, previous)  # nothing of either was stored
                    continue
            if stop_now or self._reached_stop():
                # The batch fetched meanwhile was not applied: put the position back so the
                # next run() (a rebuild's hand-off runs twice) fetches it again.
                self._rewind(batch)
                break
            if decoded is None:
                if time.monotonic() - last_markers > MARKERS_EVERY_S:
                    last_markers = time.monotonic()
                    await step_over_markers(self)
                if self.gate.parked_maybe and time.monotonic() - last_sweep > PARKED_SWEEP_S:
                    # Idle, with facts parked: their claim may have been made elsewhere (the
                    # gateway, another instance owning the claim partitions). An empty
                    # batch looks at them.
                    last_sweep = time.monotonic()
                    sweep = self._apply_decoded(DecodedBatch.empty())
                    in_flight = (asyncio.create_task(sweep), {})
                continue
            in_flight = (asyncio.create_task(self._apply_decoded(decoded)), batch)
            if time.monotonic() - last_commit > LAG_COMMIT_S and (
                lag_commit is None or lag_commit.done()
            ):
                last_commit = time.monotonic()
                lag_commit = asyncio.create_task(self._commit_for_lag_visibility())
        if lag_commit is not None:
            await lag_commit
        await self._commit_for_lag_visibility()

    async def _fetch(self) -> Fetched:
        """Up to `max_records` from the fetcher, taken in slices that yield between them."""
        batch: Fetched = {}
        count, timeout_ms = 0, 200
        while count < self.max_records:
            try:
                part = await self._consumer.getmany(
                    timeout_ms=timeout_ms, max_records=min(FETCH_SLICE, self.max_records - count)
                )
            except KafkaError:
                if not batch:
                    raise
                break  # keep what was taken (its position has moved past it); next time, retry
            if not part:
                break
            for tp, records in part.items():
                batch.setdefault(tp, []).extend(records)
                count += len(records)
            timeout_ms = 0  # only what is already fetched: the batch must not wait
            await asyncio.sleep(0)
        if self._paused:
            await self._track_claims_first()
        return batch

    async def _decode(self, batch: Fetched) -> DecodedBatch:
        return await decode(batch, self.topic_prefix, self.projector.precompute, self.gate.opener)

    def _reached_stop(self) -> bool:
        if self.stop_at is None:
            return False
        return all(end == 0 or self.applied.get(tp, 0) >= end for tp, end in self.stop_at.items())

    def _rewind(self, *batches: Fetched) -> None:
        """Fetch these batches again (nothing of them was stored): seek to their first offsets.

        Pass the newest batch first: an older batch's offsets win for a shared partition.
        """
        positions: dict[TopicPartition, int] = {}
        for batch in batches:
            for tp, records in batch.items():
                positions[tp] = records[0].offset
        for tp, offset in positions.items():
            if tp in self._consumer.assignment():
                self._consumer.seek(tp, offset)

    async def _commit_for_lag_visibility(self) -> None:
        try:
            assigned = list(self._consumer.assignment())
            stored = await self.stored_offsets(assigned)
            if stored:
                await self._consumer.commit(stored)
        except Exception as exc:
            self.log.debug("lag_commit_skipped", error=str(exc)[:200])

    # ----------------------------------------------------------------- batch
    async def process(self, records: Sequence[Record]) -> BatchOutcome:
        """Decode and apply one batch exactly once (see the package docstring)."""
        return await self._apply_decoded(await self._decode(group(records)))

    async def _apply_decoded(self, batch: DecodedBatch) -> BatchOutcome:
        """One transaction; the lock lets a revocation wait for it to finish."""
        assert self._pool is not None
        assert self._transaction is not None
        try:
            async with self._lock, self._pool.acquire() as conn, conn.transaction():
                outcome = await self._transaction.apply(conn, batch)
        except BaseException as exc:
            self.gate.parked_maybe = True  # what this batch learnt of `_parked` was rolled back
            self.batch_failure = type(exc).__name__
            raise
        self.batch_failure = None
        self.gate.committed(outcome.claims, outcome.claims_mark)
        elapsed = time.perf_counter() - batch.began
        # The batch's first few traces on its summary line (`DecodedBatch.traces`).
        observe_batch(
            self.log.bind(trace_ids=batch.traces),
            self.projector.name,
            batch.records,
            outcome,
            elapsed,
            self._consumer,
        )
        return outcome


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seek to PostgreSQL's offsets on assignment; let the batch in flight finish first."""

    def __init__(self, runtime: ProjectorRuntime) -> None:
        self.runtime = runtime

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.runtime._lock:
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if assigned:
            # Under the batch lock: a transaction may be in flight (aiokafka fetches before this
            # ends); offsets read before it commits would re-read what it applied (wasted).
            async with self.runtime._lock:
                await self.runtime.seek_to_stored(list(assigned))
                self.runtime.gate.assigned()
