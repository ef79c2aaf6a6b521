"""One batch in one PostgreSQL transaction: the steps of the module docstring, in order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
import structlog
from aiokafka import TopicPartition

from consumers.runtime import bookkeeping
from consumers.runtime.batch import (
    BatchOutcome,
    Dead,
    DecodedBatch,
    Pair,
    applying,
    identity,
    trace_fields,
)
from consumers.runtime.deadletters import dead_letter
from consumers.runtime.errors import TRANSIENT, Canary, OffsetGap, ProjectorBroken
from consumers.runtime.gate import OwnershipGate
from consumers.runtime.plan import first_offsets, plan_batch
from consumers.runtime.projector import Applier, Projector
from schemas.decode import decode_event
from schemas.errors import DecodeError
from schemas.examples import example


@dataclass
class BatchTransaction:
    """Applies decoded batches exactly once for one projector (inside a transaction)."""

    projector: Projector
    apply_events: Applier  # the projector's apply in the runtime's one shape
    gate: OwnershipGate
    producer: Any  # sends the dead letters
    deadletter_topic: str
    log: structlog.stdlib.BoundLogger
    # The first offset of the last gap refetched, per partition (see `plan_batch`).
    gap_seen: dict[TopicPartition, int] = field(default_factory=dict)

    async def apply(self, conn: asyncpg.Connection, batch: DecodedBatch) -> BatchOutcome:
        """Skip, deduplicate, judge, dead-letter, apply and store progress: one batch."""
        outcome = BatchOutcome()
        stored = await bookkeeping.lock_offsets(conn, list(batch.fetched)) if batch.fetched else {}
        plan = plan_batch(batch.fetched, stored, self.gap_seen)
        if plan.gaps:
            # Records between the stored offset and this batch were never applied here
            # (the position came from somewhere else): refetch rather than skip them.
            self.gap_seen.update(first_offsets(plan.gaps, batch.fetched))
            raise OffsetGap(plan.gaps)
        good, dead = batch.good, batch.dead
        if plan.skip_below:
            # Records below the stored offsets were applied already (redelivery): drop them.
            floor = plan.skip_below
            dead = [d for d in dead if d.record.offset >= floor.get(_tp(d.record), -1)]
            good = [(r, e) for r, e in good if r.offset >= floor.get(_tp(r), -1)]
            outcome.skipped = plan.skipped
        fresh = await self._first_sightings(conn, good)
        outcome.duplicates = len(good) - len(fresh)
        judged = await self.gate.enforce(conn, fresh, outcome)
        dead = dead + judged.refused
        if dead:
            outcome.dead = await self._dead_letter(conn, dead)
        if judged.refused:
            # Forget refused identities: a record replayed from the dead letters is judged again.
            await _forget(conn, judged.refused)
        types = self.projector.event_types
        handled = [(r, e) for r, e in judged.accepted if e.type in types]
        outcome.ignored = len(judged.accepted) - len(handled)
        # The precomputed fold saw every decoded event; only the accepted ones may count.
        stale = judged.changed or outcome.duplicates or outcome.skipped
        prepared = None if stale else batch.prepared
        if handled:
            with applying(handled):  # an apply may ask for its events' traces
                try:
                    async with conn.transaction():  # savepoint: a poison event must not sink it
                        await self.apply_events(conn, [e for _, e in handled], prepared)
                except TRANSIENT:
                    raise
                except Exception:
                    handled = await self._apply_one_by_one(conn, handled, outcome)
        outcome.applied = len(handled)
        outcome.offsets = plan.next_offsets
        last_time = max((e.time for _, e in handled), default=None)
        counts = (outcome.applied, outcome.duplicates, outcome.ignored, outcome.dead)
        await bookkeeping.store_progress(conn, outcome.offsets, counts, last_time)
        return outcome

    async def _first_sightings(self, conn: asyncpg.Connection, pairs: list[Pair]) -> list[Pair]:
        """The events whose identity (`source`, `id`) was never seen before, nor earlier here."""
        unique: dict[str, Pair] = {}
        for pair in pairs:
            unique.setdefault(identity(pair[1]), pair)
        if not unique:
            return []
        new = await bookkeeping.record_identities(conn, list(unique))
        return [pair for key, pair in unique.items() if key in new]

    async def _dead_letter(self, conn: asyncpg.Connection, dead: list[Dead]) -> int:
        # Its line names the first dead record (`first=`): its trace, and the first few.
        log = self.log.bind(**trace_fields([d.record for d in dead]))
        return await dead_letter(
            conn, self.producer, self.deadletter_topic, self.projector.name, dead, log
        )

    async def _apply_one_by_one(
        self, conn: asyncpg.Connection, handled: list[Pair], outcome: BatchOutcome
    ) -> list[Pair]:
        applied: list[Pair] = []
        poison: list[Dead] = []
        for record, event in handled:
            try:
                async with conn.transaction():
                    await self.apply_events(conn, [event], None)
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
            await _forget(conn, poison)
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
                await self.apply_events(conn, [canary], None)
                raise Canary
        except Canary:
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


def _tp(record: Any) -> tuple[str, int]:
    # Equal to (and hashed like) a TopicPartition, without building one.
    return record.topic, record.partition


async def _forget(conn: asyncpg.Connection, dead: list[Dead]) -> None:
    await bookkeeping.forget_identities(
        conn, [identity(d.event) for d in dead if d.event is not None]
    )
