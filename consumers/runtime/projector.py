"""What a read model declares (`Projector`), and the one shape in which its `apply` is called."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import asyncpg

from infra.migrations import Migrations
from schemas import ownership
from schemas.envelope import Event
from schemas.topics import CAMPAIGNS, ORGANIZATIONS, VOLUNTEERS

# What a read model writes: `(conn, fresh events)`, or `(conn, fresh events, precomputed)`
# when it declares `precompute`. The runtime calls it through `applier` only.
Apply = Callable[..., Awaitable[None]]
# The one shape the runtime calls: `prepared` is the precomputed part of exactly these
# events, or None (the applier then computes it when the projector declares one).
Applier = Callable[[asyncpg.Connection, Sequence[Event[Any]], Any], Awaitable[None]]


class Accumulator(Protocol):
    """Pure work done ahead of a batch's transaction (see `Projector.precompute`)."""

    def add(self, events: Sequence[Event[Any]]) -> None: ...  # the next slice of a batch

    def result(self) -> Any: ...  # handed to `apply` as its third argument


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


def applier(projector: Projector) -> Applier:
    """The projector's `apply` in the runtime's one shape: `(conn, events, prepared)`.

    Read models declare `apply` with or without the precomputed argument; this adapts
    both once, so the runtime has a single call site and never branches per batch.
    """
    apply, precompute = projector.apply, projector.precompute
    if precompute is None:

        async def plain(conn: asyncpg.Connection, events: Sequence[Event[Any]], _: Any) -> None:
            await apply(conn, events)

        return plain

    async def prepared_first(
        conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Any
    ) -> None:
        if prepared is None:  # not computed ahead (a retried subset, a canary, one by one)
            accumulator = precompute()
            accumulator.add(events)
            prepared = accumulator.result()
        await apply(conn, events, prepared)

    return prepared_first
