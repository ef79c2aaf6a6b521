"""The trust boundary inside a projector: ownership judged, facts parked until decidable.

Fresh events a projector handles, and every claim-making fact, are judged with the
ownership rules (`schemas.ownership`) in the order they entered the log: first claims
win. A fact from a non-owner, a suspended organisation or out of time bounds becomes a
dead letter; a fact whose owner is not known yet (its claim has not arrived: cross-topic
order is not guaranteed) is parked in `_parked` until it has; parked facts whose claim
the registry now holds are judged again, for up to UNPARK_ROUNDS rounds per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg
import structlog

from consumers.runtime import bookkeeping
from consumers.runtime.batch import (
    BatchOutcome,
    Dead,
    Opener,
    Pair,
    identity,
    opener_of,
    trace_fields,
)
from consumers.runtime.records import entered, entry_order, origin, record_from_json, record_json
from infra import claims as claims_registry
from infra.keys import KeyService
from schemas import ownership
from schemas.binding import decode_record
from schemas.errors import DecodeError
from schemas.ownership import CLAIMING

UNPARK_ROUNDS = 8  # parked facts freed by claims that other freed facts made, in one batch
MAX_CACHED_CLAIMS = 500_000  # claims never change once made: cached after commit


@dataclass
class Judged:
    """The gate's verdict on a batch's fresh facts."""

    accepted: list[Pair]
    refused: list[Dead]
    # True when the accepted facts differ from the fresh ones (some were refused, parked
    # or freed), so work precomputed from the whole batch is stale.
    changed: bool


@dataclass
class OwnershipGate:
    """Judges facts for one projector; caches committed claims between batches."""

    event_types: frozenset[str]
    registry: str  # the shared claims registry's schema
    time_bounds: ownership.TimeBounds
    parked_maybe: bool = True  # until a batch finds `_parked` empty
    # Claims made from this transaction on may be new to `_parked` (`infra.claims.
    # claims_mark`, taken at the start of the last committed batch); None: look at all.
    claims_seen: int | None = None
    claims: dict[ownership.Key, str] = field(default_factory=dict)  # committed claims
    log: Any = field(default_factory=lambda: structlog.get_logger(__name__))
    opener: Opener | None = None  # opens encrypted personal fields (`open_with`)
    keys: KeyService | None = None  # the key service the opener asks

    def open_with(self, keys: KeyService) -> None:
        """Open encrypted personal fields through `keys` (decoded and freed facts alike)."""
        self.opener, self.keys = opener_of(keys), keys

    def assigned(self) -> None:
        """Given partitions, this instance may have missed what another instance learnt.

        Cached data keys go: it may have missed a `volunteer.erased` read there
        (`KeyService.forget_all`). The next batch looks at every claim for the parked
        facts: the other instance may have parked some and stopped before freeing them.
        """
        if self.keys is not None:
            self.keys.forget_all()
        self.claims_seen = None
        self.parked_maybe = True

    def judged(self, pair: Pair) -> bool:
        """Whether the gate judges this fact (handled here, or it makes a claim)."""
        return pair[1].type in self.event_types or isinstance(pair[1].data, CLAIMING)

    def forget(self) -> None:
        """Trust nothing learnt from earlier commits: the server may have lost them.

        Projector commits are asynchronous (`synchronous_commit=off`): a PostgreSQL crash can
        lose the last few, offsets and claims together. The offsets make Kafka redeliver
        the batch, but a claim still cached here would be taken as stored, so the redelivered
        fact that made it would not store it again and the facts parked for it would wait
        forever. Called for every new connection: a crash breaks every connection, so no
        batch runs after one before this has emptied the cache.
        """
        self.claims.clear()
        self.parked_maybe = True
        self.claims_seen = None

    def committed(self, claims: dict[ownership.Key, str], mark: int | None = None) -> None:
        """Cache the claims a batch made, once it committed (safe to trust without asking),
        and look for new claims from the batch's mark on."""
        if len(self.claims) + len(claims) > MAX_CACHED_CLAIMS:
            self.claims.clear()
        self.claims.update(claims)
        if mark is not None:
            self.claims_seen = mark

    async def enforce(
        self, conn: asyncpg.Connection, fresh: list[Pair], outcome: BatchOutcome
    ) -> Judged:
        """Judge fresh facts (and parked ones their claims free)."""
        # Before any claim is read: what this batch cannot see was made from here on.
        outcome.claims_mark = await claims_registry.claims_mark(conn)
        judged = [p for p in fresh if self.judged(p)]
        # First claims win: judge in the order facts entered the log (the broker's append
        # time, then their position), not the order partitions happen to be fetched in.
        judged.sort(key=entry_order)
        accepted = [p for p in fresh if not self.judged(p)]
        refused: list[Dead] = []
        changed = False
        candidates = judged
        for _ in range(UNPARK_ROUNDS):
            if candidates:
                changed = (
                    await self._settle(conn, candidates, accepted, refused, outcome) or changed
                )
            if not self.parked_maybe:
                break
            # Another projector or the gateway may have made the claim a parked fact waits
            # for: look at every parked fact whose claim the registry now holds.
            candidates = await self._unpark(conn)
            outcome.unparked += len(candidates)
            changed = changed or bool(candidates)
            if not candidates:
                self.parked_maybe = await bookkeeping.any_parked(conn)
                break
        return Judged(accepted, refused, changed)

    async def _settle(
        self,
        conn: asyncpg.Connection,
        candidates: list[Pair],
        accepted: list[Pair],
        refused: list[Dead],
        outcome: BatchOutcome,
    ) -> bool:
        """One round of judging: accept, refuse, park; store the claims made. True if any
        fact was refused or parked."""
        events = [e for _, e in candidates]
        known = await self._load_claims(conn, ownership.keys_for(events))
        times = [entered(r) for r, _ in candidates]
        settled = ownership.settle(events, known, times, self.time_bounds)
        accepted += [candidates[i] for i in settled.accepted]
        for i, why in settled.refused:
            record, event = candidates[i]
            refused.append(
                Dead(record, str(why.reason), why.summary(), event.id, event.type, event)
            )
            outcome.rules[why.rule] = outcome.rules.get(why.rule, 0) + 1
        outcome.refused += len(settled.refused)
        if settled.pending:
            await self._park(conn, [(candidates[i], p.needs) for i, p in settled.pending])
            outcome.parked += len(settled.pending)
            self.parked_maybe = True
            # One line per round (not per fact), naming the first parked record's trace.
            records = [candidates[i][0] for i, _ in settled.pending]
            first = records[0]
            self.log.info(
                "facts_parked",
                count=len(records),
                first=f"{first.topic}/{first.partition}@{first.offset}",
                **trace_fields(records),
            )
        if settled.claims:
            # The registry is shared (the gateway, other projectors): what it holds now is
            # what counts, whoever claimed first; cached once this batch commits.
            stored = await claims_registry.store_claims(conn, self.registry, settled.claims)
            outcome.claims.update(stored)
        return bool(settled.refused or settled.pending)

    async def _load_claims(
        self, conn: asyncpg.Connection, keys: set[ownership.Key]
    ) -> dict[ownership.Key, str]:
        """The claims stored for these keys (the cache answers the ones seen committed)."""
        known = {k: self.claims[k] for k in keys if k in self.claims}
        ask = [k for k in keys if k not in known]
        if ask:
            known.update(await claims_registry.read_claims(conn, self.registry, ask))
        return known

    async def _park(
        self, conn: asyncpg.Connection, parked: list[tuple[Pair, ownership.Key]]
    ) -> None:
        await bookkeeping.park(conn, [
            (rec.topic, rec.partition, rec.offset, needs[0], needs[1], identity(event),
             record_json(rec))
            for (rec, event), needs in parked
        ])  # fmt: skip

    async def _unpark(self, conn: asyncpg.Connection) -> list[Pair]:
        """Take out the parked facts whose claim the registry now holds, decoded again."""
        stored = await bookkeeping.unpark(conn, self.registry, self.claims_seen)
        freed: list[Pair] = []
        for record in sorted((record_from_json(doc) for doc in stored), key=origin):
            event = decode_record(record.value, record.headers)
            if not isinstance(event, DecodeError):  # it decoded when it was parked
                freed.append((record, event))
        return await self.opener(freed) if self.opener is not None and freed else freed
