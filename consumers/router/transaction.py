"""One Kafka transaction per batch: the forwarded records, the dead letters, the offsets.

A raw aiokafka transactional producer (`infra.kafka.build_producer(settings,
transactional_id=...)`), not FastStream's: FastStream 0.7.8's broker has one producer for
the whole app, built without a `transactional_id`, and no API to begin, commit or abort a
transaction or to add consumed offsets to one. The records go through `infra.bus.send`
(the gateway's batching, headers and partitioning) inside the transaction.

The transactional id is stable per router instance (`tatawwu-router-<instance-id>`): a
restarted instance fences its predecessor (`init_transactions` bumps the epoch and
aborts the transaction a killed process left open), so a zombie can never commit.
On any failure the transaction is aborted and the producer replaced: after a fencing,
a timeout or a broker restart the old one may be in a fatal state, and a new one with
the same id starts clean (an abort it could not send is done by the new one's init).
A commit whose answer was lost may have happened: once the new producer's init
returned, the group's committed offsets say which (`Router.sync_committed`).

aiokafka sends the consumed offsets with TxnOffsetCommit v0, which carries the group id
but not the member's generation (KIP-447 is not implemented): fencing is per
transactional id, so run one router instance per consumer group (the platform does).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from aiokafka import AIOKafkaProducer, TopicPartition

from consumers.router import metrics
from infra.bus import Sendable, send
from infra.kafka import build_producer
from infra.settings import Settings

log = structlog.get_logger(__name__)

TRANSACTION_TIMEOUT_S = 30.0  # a batch's transaction, end to end (the broker's is 60 s)
STOP_TIMEOUT_S = 5.0
# Large producer batches and a short linger: the whole batch is handed over at once and
# flushed by the commit, so lingering only delays the commit.
PRODUCER_OPTIONS = {"linger_ms": 2, "max_batch_size": 1_048_576, "request_timeout_ms": 10_000}


class Transactor:
    """The router's transactional producer and the transaction of each batch."""

    def __init__(self, settings: Settings, transactional_id: str, group_id: str) -> None:
        self.settings, self.transactional_id, self.group_id = settings, transactional_id, group_id
        self.producer: AIOKafkaProducer | None = None
        # Tests: called after the sends, before the commit (raise to force an abort; an
        # awaitable it returns is awaited, to hold a transaction open).
        self.before_commit_hook: Callable[[], object] | None = None

    async def start(self) -> None:
        """Start a producer with the instance's transactional id (fencing any predecessor)."""
        producer = build_producer(
            self.settings, transactional_id=self.transactional_id, **PRODUCER_OPTIONS
        )
        try:
            await producer.start()
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)
            raise
        self.producer = producer

    async def stop(self) -> None:
        """Stop the producer (an open transaction is aborted by the broker or a successor)."""
        producer, self.producer = self.producer, None
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)

    async def abort(self) -> None:
        """Abort the open transaction (the producer stays usable)."""
        if self.producer is not None:
            await asyncio.wait_for(self.producer.abort_transaction(), STOP_TIMEOUT_S)

    async def ensure_started(self) -> None:
        """A producer, started now if the last one was abandoned (fencing what it left)."""
        if self.producer is None:
            await self.start()

    async def abandon(self) -> None:
        """After a failure: abort what can be aborted and drop the producer.

        The next `ensure_started` makes a fresh one with the same id, whose
        `init_transactions` aborts an open transaction or waits for one being committed:
        once it returns, the group's committed offsets are final.
        """
        producer = self.producer
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.abort_transaction(), STOP_TIMEOUT_S)
        await self.stop()

    async def commit(
        self,
        sends: Sequence[Sendable],
        offsets: dict[TopicPartition, int],
        *before_commit: Callable[[], Awaitable[object]],
    ) -> None:
        """Send everything and the offsets in one transaction, commit once the sends are
        acknowledged and every `before_commit` (the claims, then the counts) is done.

        The `before_commit` steps run one after another, in the order given, while the
        broker acknowledges: the counts must not commit in PostgreSQL when storing the
        claims has just found the batch judged on a lost race.

        Raises on any failure (the first one), with the transaction left open for `abort`
        or `abandon`.
        """
        producer = self.producer
        if producer is None:
            msg = "the transactional producer is not started"
            raise RuntimeError(msg)
        began = time.perf_counter()
        async with asyncio.timeout(TRANSACTION_TIMEOUT_S):
            await producer.begin_transaction()
            futures = await send(producer, sends)
            # While the broker acknowledges: the offsets join the transaction and the
            # counts commit in PostgreSQL (before the Kafka commit, as they must).
            await _all(
                producer.send_offsets_to_transaction(offsets, self.group_id),
                _in_order(before_commit),
                *futures,  # any refused send raises here, before the commit
            )
            if self.before_commit_hook is not None:
                held = self.before_commit_hook()
                if inspect.isawaitable(held):
                    await held
            await producer.commit_transaction()
        metrics.TRANSACTION_SECONDS.observe(time.perf_counter() - began)


async def _in_order(steps: Sequence[Callable[[], Awaitable[object]]]) -> None:
    """Each step once the one before it succeeded."""
    for step in steps:
        await step()


async def _all(*awaitables: Awaitable[object]) -> None:
    """Wait for every one to finish, then raise the first failure, if any.

    Unlike `gather`, nothing is left running when one fails: the transaction is aborted
    only after the claims' and the counts' PostgreSQL transactions ended.
    """
    results = await asyncio.gather(*awaitables, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
