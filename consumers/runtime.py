"""The exactly-once projector runtime, written once and shared by every read model.

A projector declares its topics, its tables (migrations) and an `apply` coroutine;
this module owns consuming, seeking, batching, deduplication, dead-lettering,
metrics and shutdown. For each batch, in ONE PostgreSQL transaction:

1. lock the stored offsets of the batch's partitions (row locks, taken by an
   `on conflict do update` that changes nothing) and drop every record below them: a
   rebalance or a retry can redeliver what another member (or an earlier attempt)
   already applied, and the lock orders the two writers;
2. record dead letters (sent to `tatawwu.deadletter` before the commit, so none is
   lost; the `_deadletters` key makes a retried batch count each record once);
3. insert the events' identities (`source` + `id`) into `_events`; only those not seen
   before go on: nothing counted as a duplicate is ever applied;
4. judge the fresh events with the ownership rules (`schemas.ownership`): a fact from a
   non-owner, a suspended organisation or with an out-of-bounds time is a dead letter
   (reason `not_owner`, ...); a fact whose owner is not known yet (its claim has not
   arrived: cross-topic order is not guaranteed) is parked in `_parked` until it has;
   parked facts whose claim this batch brought are judged again;
5. `apply` the accepted events; 6. store the next offsets and counters; commit.

Why aiokafka underneath rather than a FastStream subscriber: the runtime must seek
every partition back to the offsets stored in PostgreSQL when a transaction fails
(database restart) and when partitions are assigned. FastStream's MANUAL ack policy
advances the position past a failed batch, and its subscriber exposes the consumer
only indirectly; the raw `getmany` loop states the guarantee in one readable place.
Kafka's committed offsets are written too, but only so `kafka-consumer-groups` and
`tatawwu projections status` can show lag.

Speed (benchmarks/bench_projectors.py): batches are pipelined (the next one is fetched
and decoded while the current transaction runs, in slices that yield so its statements
are never held up), big parameters travel as one JSON document rather than arrays, and
projector processes tune the garbage collector (`tune_gc`).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import gc
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import orjson
import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import ConsumerRecord

from consumers import metrics
from infra import claims as claims_registry
from infra.db import create_pool
from infra.kafka import build_consumer, build_producer
from infra.logging import correlation_from_headers
from infra.migrations import Migrations, apply
from infra.settings import Settings
from schemas import ownership
from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.examples import example
from schemas.ownership import CLAIMING
from schemas.registry import spec_of
from schemas.topics import CAMPAIGNS, DEADLETTER, ORGANIZATIONS, VOLUNTEERS

log = structlog.get_logger(__name__)

BOOKKEEPING = Migrations("runtime", Path(__file__).with_name("sql"))
Apply = Callable[..., Awaitable[None]]  # (conn, fresh events[, precomputed]) -> None
Fetched = dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]]
Record = ConsumerRecord[bytes, bytes]
Pair = tuple[Record, Event[Any]]
GC_THRESHOLDS = (20_000, 10, 10)  # see tune_gc
# While a batch's transaction is in flight the next batch is taken from the fetcher and
# decoded, in slices that yield to the event loop: each statement of that transaction is
# sent as soon as PostgreSQL answers the one before, not after a long stretch of CPU work.
FETCH_SLICE = 500  # records taken from aiokafka's buffer per getmany (~1 ms to parse)
DECODE_SLICE = 20  # records decoded between two yields (~0.2 ms)
UNPARK_ROUNDS = 8  # parked facts freed by claims that other freed facts made, in one batch
MAX_CACHED_CLAIMS = 500_000  # claims never change once made: cached after commit
PARKED_SWEEP_S = 2.0  # while idle with facts parked, look at them this often
# Topics whose records make the claims other facts wait for (see `_claims_first`).
CLAIM_TOPICS = (CAMPAIGNS.name, ORGANIZATIONS.name)
# Failures of the plumbing, not of a record: retry the batch from the stored offsets.
TRANSIENT = (
    OSError,
    asyncio.TimeoutError,
    KafkaError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
)


class ProjectorBroken(RuntimeError):
    """The projector, not the data, is broken: a known-good event fails to apply too.

    Before an event is dead-lettered for failing to apply, the runtime applies the valid
    example of the same type (`schemas.examples`) in a savepoint it rolls back: if that
    fails as well, the cause is a bad deploy (a bug, a missing migration), whatever the
    batch size, so the projector stops instead of draining the stream into dead letters.
    Nothing of the batch was stored: once fixed and restarted, it resumes from the same
    offsets.
    """


class _Canary(Exception):
    """Rolls back the savepoint in which a known-good event was applied as a probe."""


class OffsetGap(Exception):
    """A fetched batch starts past the stored offset: refetch from the stored offsets."""

    def __init__(self, positions: dict[TopicPartition, int]) -> None:
        self.positions = positions
        super().__init__(", ".join(f"{tp.topic}/{tp.partition}@{o}" for tp, o in positions.items()))


@dataclass(frozen=True)
class Projector:
    """What a read model declares; the runtime does the rest."""

    name: str
    topics: tuple[str, ...]
    migrations: tuple[Migrations, ...]  # applied in order into the projector's schema
    apply: Apply
    event_types: frozenset[str]  # handled types; others on its topics only advance offsets
    prepare: Callable[[asyncpg.Connection], Awaitable[None]] | None = None  # after migrations
    # Optional pure work done outside the transaction: a new accumulator per batch is fed
    # every decoded event of it (duplicates and redeliveries included), slice by slice,
    # and its result handed to `apply` as a third argument. Only for projectors whose
    # apply is idempotent per event.
    precompute: Callable[[], Accumulator] | None = None

    def __post_init__(self) -> None:
        # The ownership rules read claims made on other topics (launches and publications
        # on campaigns, registrations on volunteers, suspensions on organizations): a
        # projector consumes those topics too, whatever it applies.
        needed = [ORGANIZATIONS.name]
        if self.event_types & ownership.CAMPAIGN_SCOPED_TYPES:
            needed.append(CAMPAIGNS.name)
        if self.event_types & ownership.PROFILE_TYPES:
            needed.append(VOLUNTEERS.name)
        extra = tuple(t for t in needed if t not in self.topics)
        object.__setattr__(self, "topics", self.topics + extra)

    @property
    def schema(self) -> str:
        return self.name


class Accumulator(Protocol):
    """Pure work done ahead of a batch's transaction (see `Projector.precompute`)."""

    def add(self, events: Sequence[Event[Any]]) -> None: ...  # the next slice of a batch

    def result(self) -> Any: ...  # handed to `apply` as its third argument


@dataclass
class Dead:
    """A record the projector cannot process, and why."""

    record: ConsumerRecord[bytes, bytes]
    reason: str
    detail: str
    event_id: str | None = None
    event_type: str | None = None
    event: Event[Any] | None = None  # when it decoded (refused or failed to apply)


@dataclass
class BatchOutcome:
    """What one batch did (for the summary log line and the tests)."""

    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    skipped: int = 0
    dead: int = 0
    refused: int = 0  # by the ownership rules (among `dead`)
    parked: int = 0  # waiting for the claim that decides their owner
    unparked: int = 0  # parked earlier, judged again in this batch
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    claims: dict[ownership.Key, str] = field(default_factory=dict)  # made by this batch
    rules: dict[str, int] = field(default_factory=dict)  # refusals by rule


async def prepare_schema(conn: asyncpg.Connection, projector: Projector, schema: str) -> None:
    """Create the projector's schema with bookkeeping and read-model tables (idempotent)."""
    await conn.execute("select pg_advisory_lock(hashtext($1))", f"schema:{schema}")
    try:
        await conn.execute(f'create schema if not exists "{schema}"')
        await conn.execute(f'set search_path to "{schema}"')
        await apply(conn, BOOKKEEPING, *projector.migrations)
        if projector.prepare is not None:
            await projector.prepare(conn)
    finally:
        await conn.execute("reset search_path")
        await conn.execute("select pg_advisory_unlock(hashtext($1))", f"schema:{schema}")


def decode_batch(
    records: Sequence[ConsumerRecord[bytes, bytes]], topic_prefix: str = ""
) -> tuple[list[Pair], list[Dead]]:
    """Split records into decoded events and dead letters (bad bytes, wrong topic).

    Nothing a record holds may stop the loop: whatever decoding one raises (a bug in a
    validator or an upcaster the contract tests missed) makes that record a dead letter.
    """
    good: list[Pair] = []
    dead: list[Dead] = []
    for record in records:
        try:
            result = decode_event(record.value or b"")
            if isinstance(result, DecodeError):
                reason, summary = str(result.reason), result.summary()
                dead.append(Dead(record, reason, summary, result.event_id, result.event_type))
            elif spec_of(result).topic.name != record.topic.removeprefix(topic_prefix):
                detail = f"{result.type} belongs on {spec_of(result).topic.name}, not this topic"
                dead.append(Dead(record, "wrong_topic", detail, result.id, result.type))
            else:
                good.append((record, result))
        except Exception as exc:
            detail = f"decoding raised {type(exc).__name__} (a decoder bug; the record is kept)"
            dead.append(Dead(record, "undecodable", detail))
    return good, dead


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
        self.projector = projector
        self.settings = settings
        self.schema = schema or projector.schema
        self.group_id = group_id or f"tatawwu.projector.{projector.name}"
        self.instance_id = instance_id
        self.max_records = max_records
        self.stop_at = stop_at  # rebuilds stop once every partition reached these offsets
        # Tests run isolated copies of the catalog topics: "<prefix>tatawwu.signups".
        self.topic_prefix = topic_prefix
        self.stopping = asyncio.Event()
        self._lock = asyncio.Lock()  # held while a batch is applied; revocation waits for it
        self._pool: asyncpg.Pool | None = None
        self._consumer: Any = None
        self._producer: Any = None
        self._gap_seen: dict[TopicPartition, int] = {}
        self.applied: dict[TopicPartition, int] = {}  # next offset stored, per partition
        self._claims: dict[ownership.Key, str] = {}  # committed claims (they never change)
        self.registry = claims_registry.registry_schema(topic_prefix)
        self._parked_maybe = True  # until a batch finds `_parked` empty
        self._paused: set[TopicPartition] = set()  # waiting for the claim topics (catch-up)
        self._claim_targets: dict[TopicPartition, int] = {}
        self._log = log.bind(projector=projector.name, schema=self.schema)

    # ----------------------------------------------------------------- set-up
    async def start(self) -> None:
        """Prepare the schema, connect to PostgreSQL and Kafka, join the group."""
        self._pool = await create_pool(
            self.settings,
            min_size=1,
            max_size=2,
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
        )
        async with self._pool.acquire() as conn:
            await claims_registry.ensure_registry(conn, self.registry)
            await prepare_schema(conn, self.projector, self.schema)
        self._producer = build_producer(self.settings)
        await self._producer.start()
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

    async def close(self) -> None:
        """Leave the group and close connections (after the batch in flight)."""
        if self._consumer is not None:
            await self._consumer.stop()
        if self._producer is not None:
            await self._producer.stop()
        if self._pool is not None:
            await self._pool.close()

    async def stored_offsets(
        self, partitions: Sequence[TopicPartition]
    ) -> dict[TopicPartition, int]:
        """The next offsets PostgreSQL holds for these partitions (absent: never applied)."""
        assert self._pool is not None
        rows = await self._pool.fetch(
            "select topic, kafka_partition, next_offset from _offsets"
            " where (topic, kafka_partition) in (select * from unnest($1::text[], $2::int[]))",
            [tp.topic for tp in partitions],
            [tp.partition for tp in partitions],
        )
        return {TopicPartition(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}

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
        self._log.info(
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
        ends = await self._consumer.end_offsets(claims)
        self._claim_targets = {tp: end for tp, end in ends.items() if end > stored.get(tp, 0)}
        if self._claim_targets:
            self._paused = set(others)
            self._consumer.pause(*others)
            self._log.info("claims_first", claim_partitions=len(self._claim_targets))

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
            self._log.info("claims_read_first", resumed=len(self._paused))
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
        last_commit = last_sweep = time.monotonic()
        in_flight: tuple[asyncio.Task[BatchOutcome], Fetched] | None = None
        lag_commit: asyncio.Task[None] | None = None
        while True:
            stop_now = self.stopping.is_set()
            batch: Fetched = {}
            if not stop_now:
                try:
                    batch = await self._fetch()
                except KafkaError as exc:
                    self._log.warning("fetch_failed", error=str(exc))
                    await asyncio.sleep(backoff)
            decoded = (
                await self._decode([r for tp in sorted(batch) for r in batch[tp]])
                if batch
                else None
            )
            if in_flight is not None:
                task, previous = in_flight
                in_flight = None
                try:
                    outcome = await task
                    self.applied.update(outcome.offsets)
                    backoff = 0.2
                except OffsetGap as gap:
                    self._log.warning("offset_gap_refetch", positions=str(gap))
                    self._rewind(batch, previous)  # nothing of either was stored
                    for tp, offset in gap.positions.items():
                        if tp in self._consumer.assignment():
                            self._consumer.seek(tp, offset)
                    continue
                except TRANSIENT as exc:
                    self._log.warning(
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
                if self._parked_maybe and time.monotonic() - last_sweep > PARKED_SWEEP_S:
                    # Idle, with facts parked: their claim may have been made elsewhere (the
                    # gateway, another instance owning the claim partitions). An empty
                    # batch looks at them.
                    last_sweep = time.monotonic()
                    empty = ([], [], [], time.perf_counter(), None)
                    in_flight = (asyncio.create_task(self._apply_decoded(*empty)), {})
                continue
            in_flight = (asyncio.create_task(self._apply_decoded(*decoded)), batch)
            if time.monotonic() - last_commit > 2 and (lag_commit is None or lag_commit.done()):
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

    async def _decode(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> tuple[Any, ...]:
        """Decode (and precompute) a batch in slices, yielding to the transaction in flight."""
        accumulator = self.projector.precompute() if self.projector.precompute else None
        good: list[tuple[ConsumerRecord[bytes, bytes], Event[Any]]] = []
        dead: list[Dead] = []
        for start in range(0, len(records), DECODE_SLICE):
            g, d = decode_batch(records[start : start + DECODE_SLICE], self.topic_prefix)
            good += g
            dead += d
            if accumulator is not None:
                accumulator.add([event for _, event in g])
            await asyncio.sleep(0)
        pre = accumulator.result() if accumulator is not None else None
        return records, good, dead, time.perf_counter(), pre

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
            self._log.debug("lag_commit_skipped", error=str(exc)[:200])

    # ----------------------------------------------------------------- batch
    async def process(self, records: Sequence[ConsumerRecord[bytes, bytes]]) -> BatchOutcome:
        """Decode and apply one batch exactly once (see the module docstring)."""
        return await self._apply_decoded(*await self._decode(records))

    async def _apply_decoded(
        self,
        records: Sequence[ConsumerRecord[bytes, bytes]],
        good: list[tuple[ConsumerRecord[bytes, bytes], Event[Any]]],
        dead: list[Dead],
        began: float,
        pre: Any = None,
    ) -> BatchOutcome:
        """One transaction; the lock lets a revocation wait for it to finish."""
        assert self._pool is not None
        try:
            async with self._lock, self._pool.acquire() as conn, conn.transaction():
                outcome = await self._apply_batch(conn, records, good, dead, pre)
        except BaseException:
            self._parked_maybe = True  # what this batch learnt of `_parked` was rolled back
            raise
        if len(self._claims) + len(outcome.claims) > MAX_CACHED_CLAIMS:
            self._claims.clear()
        self._claims.update(outcome.claims)  # committed: safe to trust without asking
        self._observe(records, outcome, began, good)
        return outcome

    async def _apply_batch(
        self,
        conn: asyncpg.Connection,
        records: Sequence[ConsumerRecord[bytes, bytes]],
        good: list[Pair],
        dead: list[Dead],
        pre: Any = None,
    ) -> BatchOutcome:
        outcome = BatchOutcome()
        partitions = sorted({TopicPartition(r.topic, r.partition) for r in records})
        stored = await self._lock_offsets(conn, partitions)
        first = {}
        for record in records:
            first.setdefault(TopicPartition(record.topic, record.partition), record.offset)
        gaps = {}
        for tp, offset in first.items():
            if offset > stored[tp] and self._gap_seen.get(tp) != offset:
                # Records between the stored offset and this batch were never applied here
                # (the position came from somewhere else): refetch rather than skip them.
                # If the refetch starts at the same offset, the log really has a hole there.
                self._gap_seen[tp] = offset
                gaps[tp] = stored[tp]
        if gaps:
            raise OffsetGap(gaps)

        # Records below the stored offsets were applied already (redelivery): drop them.
        floor = {(tp.topic, tp.partition): offset for tp, offset in stored.items()}
        if any(offset < floor[(tp.topic, tp.partition)] for tp, offset in first.items()):
            dead = [
                d for d in dead if d.record.offset >= floor[(d.record.topic, d.record.partition)]
            ]
            good = [(r, e) for r, e in good if r.offset >= floor[(r.topic, r.partition)]]
            outcome.skipped = sum(r.offset < floor[(r.topic, r.partition)] for r in records)
        fresh = await self._first_sightings(conn, good)
        outcome.duplicates = len(good) - len(fresh)
        accepted, refused, changed = await self._enforce(conn, fresh, outcome)
        dead = dead + refused
        if dead:
            outcome.dead = await self._dead_letter(conn, dead)
        if refused:
            # Forget refused identities: a record replayed from the dead letters is judged again.
            await self._forget(conn, [d.event for d in refused if d.event is not None])
        handled = [(r, e) for r, e in accepted if e.type in self.projector.event_types]
        outcome.ignored = len(accepted) - len(handled)
        if changed or outcome.duplicates or outcome.skipped:
            # The precomputed fold saw every decoded event; only the accepted ones may count.
            pre = None
        if handled:
            events = [e for _, e in handled]
            try:
                async with conn.transaction():  # savepoint: a poison event must not sink the batch
                    if pre is None:
                        await self._call_apply(conn, events)
                    else:
                        await self.projector.apply(conn, events, pre)
            except TRANSIENT:
                raise
            except Exception:
                handled = await self._apply_one_by_one(conn, handled, outcome)
        outcome.applied = len(handled)
        last: dict[TopicPartition, int] = {}
        for record in records:  # records of one partition come in offset order
            last[TopicPartition(record.topic, record.partition)] = record.offset
        outcome.offsets = {tp: off + 1 for tp, off in last.items() if off + 1 > stored[tp]}
        await self._store_progress(conn, outcome, [e for _, e in handled])
        return outcome

    async def _call_apply(self, conn: asyncpg.Connection, events: list[Event[Any]]) -> None:
        """`apply` without a precomputed part (it computes its own)."""
        if self.projector.precompute is None:
            await self.projector.apply(conn, events)
        else:
            accumulator = self.projector.precompute()
            accumulator.add(events)
            await self.projector.apply(conn, events, accumulator.result())

    async def _lock_offsets(
        self, conn: asyncpg.Connection, partitions: list[TopicPartition]
    ) -> dict[TopicPartition, int]:
        # One round trip: insert the rows never seen, and lock every row (an ON CONFLICT
        # update that changes nothing locks the row like FOR UPDATE and, in READ COMMITTED,
        # returns its latest committed offset once a concurrent writer has committed).
        # Sorted, so two members locking the same partitions cannot deadlock.
        rows = await conn.fetch(
            "insert into _offsets as o (topic, kafka_partition)"
            " select * from unnest($1::text[], $2::int[]) order by 1, 2"
            " on conflict (topic, kafka_partition) do update set next_offset = o.next_offset"
            " returning topic, kafka_partition, next_offset",
            [tp.topic for tp in partitions],
            [tp.partition for tp in partitions],
        )
        return {TopicPartition(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}

    async def _first_sightings(self, conn: asyncpg.Connection, pairs: list[Pair]) -> list[Pair]:
        """The events whose identity (`source`, `id`) was never seen before, nor earlier here."""
        unique: dict[str, Pair] = {}
        for pair in pairs:
            unique.setdefault(identity(pair[1]), pair)
        if not unique:
            return []
        rows = await conn.fetch(
            # One JSON document, not a text[]: asyncpg's array encoder costs ~2 µs an element.
            "insert into _events (event_id) select jsonb_array_elements_text($1::text::jsonb)"
            " on conflict do nothing returning event_id",
            orjson.dumps(list(unique)).decode(),
        )
        new = {r["event_id"] for r in rows}
        return [pair for key, pair in unique.items() if key in new]

    async def _forget(self, conn: asyncpg.Connection, events: list[Event[Any]]) -> None:
        if events:
            await conn.execute(
                "delete from _events where event_id = any($1::text[])",
                [identity(e) for e in events],
            )

    # ------------------------------------------------------------- ownership
    def _entered(self, record: Record) -> dt.datetime:
        """When a record entered the log: the broker's append time, else now."""
        if record.timestamp_type == 1 and record.timestamp > 0:  # LogAppendTime
            return dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
        return dt.datetime.now(dt.UTC)

    async def _load_claims(
        self, conn: asyncpg.Connection, keys: set[ownership.Key]
    ) -> dict[ownership.Key, str]:
        """The claims stored for these keys (the cache answers the ones seen committed)."""
        known = {k: self._claims[k] for k in keys if k in self._claims}
        ask = [k for k in keys if k not in known]
        if ask:
            known.update(await claims_registry.read_claims(conn, self.registry, ask))
        return known

    async def _enforce(
        self, conn: asyncpg.Connection, fresh: list[Pair], outcome: BatchOutcome
    ) -> tuple[list[Pair], list[Dead], bool]:
        """Judge fresh facts (and parked ones their claims free): accepted, refused, changed.

        `changed` is true when the accepted facts differ from the fresh ones (some were
        refused, parked or freed), so work precomputed from the whole batch is stale.
        """
        types = self.projector.event_types
        judged = [p for p in fresh if p[1].type in types or isinstance(p[1].data, CLAIMING)]
        # First claims win: judge in the order facts entered the log (the broker's append
        # time, then their position), not the order partitions happen to be fetched in.
        judged.sort(key=_entry_order)
        accepted = [p for p in fresh if not (p[1].type in types or isinstance(p[1].data, CLAIMING))]
        refused: list[Dead] = []
        changed = False
        candidates = judged
        for _ in range(UNPARK_ROUNDS):
            if candidates:
                events = [e for _, e in candidates]
                known = await self._load_claims(conn, ownership.keys_for(events))
                entered = [self._entered(r) for r, _ in candidates]
                settled = ownership.settle(events, known, entered, self.settings.time_bounds)
                accepted += [candidates[i] for i in settled.accepted]
                for i, why in settled.refused:
                    record, event = candidates[i]
                    summary = why.summary()
                    refused.append(
                        Dead(record, str(why.reason), summary, event.id, event.type, event)
                    )
                    outcome.rules[why.rule] = outcome.rules.get(why.rule, 0) + 1
                outcome.refused += len(settled.refused)
                if settled.pending:
                    await self._park(conn, [(candidates[i], p.needs) for i, p in settled.pending])
                    outcome.parked += len(settled.pending)
                    self._parked_maybe = True
                changed = changed or bool(settled.refused or settled.pending)
                if settled.claims:
                    await self._store_claims(conn, settled.claims, outcome)
            if not self._parked_maybe:
                break
            # Another projector or the gateway may have made the claim a parked fact waits
            # for: look at every parked fact whose claim the registry now holds.
            candidates = await self._unpark(conn)
            outcome.unparked += len(candidates)
            changed = changed or bool(candidates)
            if not candidates:
                self._parked_maybe = bool(await conn.fetchval("select exists(select from _parked)"))
                break
        return accepted, refused, changed

    async def _store_claims(
        self, conn: asyncpg.Connection, claims: dict[ownership.Key, str], outcome: BatchOutcome
    ) -> None:
        # The registry is shared (the gateway, other projectors): what it holds now is what
        # counts, whoever claimed first; cached once this batch commits.
        outcome.claims.update(await claims_registry.store_claims(conn, self.registry, claims))

    async def _park(
        self, conn: asyncpg.Connection, parked: list[tuple[Pair, ownership.Key]]
    ) -> None:
        await conn.execute(
            "insert into _parked (topic, kafka_partition, kafka_offset, needs_kind, needs_id,"
            " event_identity, record)"
            " select r->>0, (r->>1)::int, (r->>2)::bigint, r->>3, r->>4, r->>5, r->6"
            " from jsonb_array_elements($1::text::jsonb) as r on conflict do nothing",
            orjson.dumps([
                (rec.topic, rec.partition, rec.offset, needs[0], needs[1], identity(event),
                 _record_json(rec))
                for (rec, event), needs in parked
            ]).decode(),
        )  # fmt: skip

    async def _unpark(self, conn: asyncpg.Connection) -> list[Pair]:
        """Take out the parked facts whose claim the registry now holds, decoded again."""
        rows = await conn.fetch(
            f'delete from _parked p using "{self.registry}".claims c'
            " where c.kind = p.needs_kind and c.id = p.needs_id returning p.record"
        )
        freed: list[Pair] = []
        records = sorted((_record_from_json(r["record"]) for r in rows), key=_origin)
        for record in records:
            event = decode_event(record.value or b"")
            if not isinstance(event, DecodeError):  # it decoded when it was parked
                freed.append((record, event))
        return freed

    async def _apply_one_by_one(
        self, conn: asyncpg.Connection, handled: list[Pair], outcome: BatchOutcome
    ) -> list[Pair]:
        applied: list[Pair] = []
        poison: list[Dead] = []
        for record, event in handled:
            try:
                async with conn.transaction():
                    await self._call_apply(conn, [event])
                applied.append((record, event))
            except TRANSIENT:
                raise
            except Exception as exc:
                # The exception's text may quote values (asyncpg does): name its class only.
                detail = f"{type(exc).__name__} while applying {event.type}"
                poison.append(Dead(record, "apply_failed", detail, event.id, event.type, event))
        if poison:
            for event_type in sorted({d.event_type for d in poison if d.event_type}):
                await self._check_canary(conn, event_type, poison)
            # Forget their identities: once the cause is fixed, a replay must apply them.
            await self._forget(conn, [d.event for d in poison if d.event is not None])
            outcome.dead += await self._dead_letter(conn, poison)
        return applied

    async def _check_canary(
        self, conn: asyncpg.Connection, event_type: str, poison: list[Dead]
    ) -> None:
        """Raise ProjectorBroken when the valid example of `event_type` fails to apply too."""
        canary = decode_event(orjson.dumps(example(event_type)))
        if isinstance(canary, DecodeError):  # cannot happen: examples are tested valid
            return
        try:
            async with conn.transaction():  # a savepoint, always rolled back
                await self._call_apply(conn, [canary])
                raise _Canary
        except _Canary:
            return
        except TRANSIENT:
            raise
        except Exception as exc:
            first = next(d for d in poison if d.event_type == event_type)
            msg = (
                f"{event_type} events fail to apply, and so does the valid example of that type"
                f" ({type(exc).__name__}: {str(exc)[:300]}; first record: {first.detail}): a bug"
                " or a missing"
                " migration, not bad records. Nothing was dead-lettered; fix and restart to"
                " resume from the same offsets"
            )
            raise ProjectorBroken(msg) from exc

    async def _dead_letter(self, conn: asyncpg.Connection, dead: list[Dead]) -> int:
        """Record dead letters in the transaction and on the topic; return how many are new."""
        rows = await conn.fetch(
            "insert into _deadletters (topic, kafka_partition, kafka_offset, reason, detail, event_id, event_type)"
            " select * from unnest($1::text[], $2::int[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[])"
            " on conflict do nothing returning kafka_offset",
            [d.record.topic for d in dead],
            [d.record.partition for d in dead],
            [d.record.offset for d in dead],
            [d.reason for d in dead],
            [d.detail for d in dead],
            [d.event_id for d in dead],
            [d.event_type for d in dead],
        )
        # Sent before the commit: a crash now re-sends on retry (the list dedupes by origin),
        # never loses one.
        futures = []
        for d in dead:
            headers = [
                ("projector", self.projector.name.encode()),
                ("error", d.reason.encode()),
                ("error_detail", d.detail[:1000].encode()),
                ("original_topic", d.record.topic.encode()),
                ("original_partition", str(d.record.partition).encode()),
                ("original_offset", str(d.record.offset).encode()),
            ]
            if cid := correlation_from_headers(d.record.headers):
                headers.append(("correlation_id", cid.encode()))
            futures.append(
                await self._producer.send(
                    self.topic_prefix + DEADLETTER.name,
                    d.record.value,
                    key=d.record.key,
                    headers=headers,
                )
            )
        await asyncio.gather(*futures)
        # One warning per batch (a flood of bad records must not flood the log); the
        # records themselves are listed by `tatawwu dlq list`.
        reasons: dict[str, int] = {}
        for d in dead:
            reasons[d.reason] = reasons.get(d.reason, 0) + 1
        first = dead[0]
        self._log.warning(
            "dead_lettered",
            count=len(dead),
            reasons=reasons,
            first=f"{first.record.topic}/{first.record.partition}@{first.record.offset}",
            correlation_id=correlation_from_headers(first.record.headers),
        )
        return len(rows)

    async def _store_progress(
        self, conn: asyncpg.Connection, outcome: BatchOutcome, handled: list[Event[Any]]
    ) -> None:
        if outcome.offsets:
            tps = list(outcome.offsets)
            await conn.execute(
                "update _offsets o set next_offset = v.next, updated_at = now()"
                " from unnest($1::text[], $2::int[], $3::bigint[]) as v(topic, part, next)"
                " where o.topic = v.topic and o.kafka_partition = v.part",
                [tp.topic for tp in tps],
                [tp.partition for tp in tps],
                [outcome.offsets[tp] for tp in tps],
            )
        last_time = max((e.time for e in handled), default=None)
        await conn.execute(
            "update _stats set events_applied = events_applied + $1, duplicates = duplicates + $2,"
            " ignored = ignored + $3, dead_lettered = dead_lettered + $4, batches = batches + 1,"
            " last_event_time = greatest(last_event_time, $5), last_applied_at = now()",
            outcome.applied,
            outcome.duplicates,
            outcome.ignored,
            outcome.dead,
            last_time,
        )

    def _observe(
        self,
        records: Sequence[ConsumerRecord[bytes, bytes]],
        outcome: BatchOutcome,
        began: float,
        good: list[Any],
    ) -> None:
        elapsed = time.perf_counter() - began
        name = self.projector.name
        if not records and not (outcome.unparked or outcome.dead):
            return  # an idle look at parked facts that freed none
        metrics.EVENTS.labels(name, "applied").inc(outcome.applied)
        metrics.EVENTS.labels(name, "duplicate").inc(outcome.duplicates)
        metrics.EVENTS.labels(name, "dead_lettered").inc(outcome.dead)
        metrics.PARKED.labels(name).inc(outcome.parked)
        for rule, count in outcome.rules.items():
            metrics.REFUSED.labels(name, rule).inc(count)
        metrics.BATCH_SIZE.labels(name).observe(len(records))
        metrics.APPLY_SECONDS.labels(name).observe(elapsed)
        assigned = self._consumer.assignment() if self._consumer is not None else set()
        for tp in outcome.offsets:
            # A rebalance may have revoked the partition since the batch began.
            high = self._consumer.highwater(tp) if tp in assigned else None
            if high is not None:
                metrics.LAG.labels(name, tp.topic, str(tp.partition)).set(
                    max(0, high - outcome.offsets[tp])
                )
        # Requests (gateway correlation ids) this batch carried, so an operator can follow one
        # partner request from the gateway's log line to the batch that applied it.
        correlation_ids: list[str] = []
        for record in records:
            cid = correlation_from_headers(record.headers) if record.headers else None
            if cid and cid not in correlation_ids:
                correlation_ids.append(cid)
                if len(correlation_ids) == 5:
                    break
        self._log.info(
            "batch_applied",
            correlation_ids=correlation_ids,
            events=len(records),
            applied=outcome.applied,
            duplicates=outcome.duplicates,
            skipped=outcome.skipped,
            dead=outcome.dead,
            refused=outcome.refused,
            parked=outcome.parked,
            unparked=outcome.unparked,
            duration_ms=round(elapsed * 1000, 1),
        )


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Seek to PostgreSQL's offsets on assignment; let the batch in flight finish first."""

    def __init__(self, runtime: ProjectorRuntime) -> None:
        self.runtime = runtime

    async def on_partitions_revoked(self, revoked: Any) -> None:
        async with self.runtime._lock:
            pass

    async def on_partitions_assigned(self, assigned: Any) -> None:
        if assigned:
            # Under the batch lock: the pipeline may have a transaction in flight (aiokafka
            # can fetch before this callback ends). Reading the offsets before it commits
            # would seek back to them and re-read what it applied (skipped, but wasted).
            async with self.runtime._lock:
                await self.runtime.seek_to_stored(list(assigned))


def tune_gc() -> None:
    """Garbage-collection settings for a process that runs projectors (call once started).

    A batch keeps thousands of young objects alive (records, events, their models) for
    a few hundred milliseconds, so CPython's default thresholds promote them and run a
    full collection every few batches, each walking every module, schema and client
    object the process loaded: a quarter of the projector's CPU, measured. Freezing
    what exists once start-up is done takes that out of every later collection; larger
    thresholds let a batch live and die between two collections. Cyclic garbage is
    still collected (memory stays flat: see benchmarks/bench_projectors.py).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run_projector(runtime: ProjectorRuntime) -> None:
    """Start, run until stopped, and close cleanly (the batch in flight is finished)."""
    await runtime.start()
    tune_gc()
    try:
        await runtime.run()
    except ProjectorBroken as exc:
        runtime._log.error("projector_broken", detail=str(exc)[:600])
        raise
    finally:
        await runtime.close()


def identity(event: Event[Any]) -> str:
    """An event's identity: its `source` and its `id` (neither can hold a space)."""
    return f"{event.source} {event.id}"


def _entry_order(pair: Pair) -> tuple[int, str, int, int]:
    record = pair[0]
    return record.timestamp, record.topic, record.partition, record.offset


def _origin(record: Record) -> tuple[str, int, int]:
    return record.topic, record.partition, record.offset


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def _record_json(record: Record) -> dict[str, Any]:
    """A consumed record as JSON, to park it (bytes as base64)."""
    return {
        "t": record.topic, "p": record.partition, "o": record.offset,
        "ts": record.timestamp, "tt": record.timestamp_type,
        "k": _b64(record.key), "v": _b64(record.value),
        "h": [(name, _b64(value)) for name, value in record.headers or ()],
    }  # fmt: skip


def _record_from_json(doc: dict[str, Any] | str) -> Record:
    """The record `_record_json` stored, back as a ConsumerRecord."""
    if isinstance(doc, str):
        doc = orjson.loads(doc)
    key = base64.b64decode(doc["k"]) if doc["k"] is not None else None
    value = base64.b64decode(doc["v"]) if doc["v"] is not None else None
    headers = tuple((n, base64.b64decode(v) if v is not None else b"") for n, v in doc["h"])
    return ConsumerRecord(
        doc["t"], doc["p"], doc["o"], doc["ts"], doc["tt"], key, value, None,
        len(key or b""), len(value or b""), headers,
    )  # fmt: skip
