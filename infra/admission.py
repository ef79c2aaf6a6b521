"""Admission where a fact enters: claims read through a cache, judged, stored, re-judged.

Both entry points (the gateway's `POST /v1/events`, the Kafka-ingress router) decide with
`schemas.admission` against the claims registry (`infra.claims`) read through a
`ClaimCache`, then store the claims the accepted facts make. Claims are first-come: when
another entry point claimed a key first meanwhile, the facts are judged again with the
stored owners (`admit_request` for a whole gateway request; `judge_batch` then `store`, record by
record, for the router, which stores while it sends and judges again on a `LostRace`).

Claims never change once made, so every claim read is cached for the process's life; the
only answer cached for a while only is "not suspended" (`ttl`, like partner keys), so a
suspension takes effect on every entry process within that delay.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import asyncpg

from infra.claims import read_claims, store_claims
from schemas import admission, ownership
from schemas.admission import Refusal, Speaker
from schemas.envelope import Event
from schemas.ownership import Key, Kind

MAX_CACHED = 200_000
DB_TIMEOUT_S = 3.0
_OPTIMISTIC = frozenset({Kind.CAMPAIGN, Kind.OPPORTUNITY, Kind.VOLUNTEER})


class ClaimCache:
    """Claims seen committed (forever) and recent "not suspended" answers (for `ttl`)."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl, self._clock = ttl, clock
        self._claims: dict[Key, str] = {}
        self._not_suspended: dict[str, float] = {}

    def lookup(self, keys: Iterable[Key]) -> tuple[dict[Key, str], set[Key]]:
        """The cached claims among `keys`, and the keys to ask the database for."""
        now = self._clock()
        known: dict[Key, str] = {}
        missing: set[Key] = set()
        for key in keys:
            if key in self._claims:
                known[key] = self._claims[key]
            elif key[0] == Kind.SUSPENSION and self._not_suspended.get(key[1], 0) > now:
                continue
            else:
                missing.add(key)
        return known, missing

    def remember(self, asked: Iterable[Key], found: dict[Key, str]) -> None:
        """Keep what the database answered (committed claims only)."""
        if len(self._claims) > MAX_CACHED:
            self._claims.clear()
        self._claims.update(found)
        until = self._clock() + self._ttl
        for kind, id_ in asked:
            if kind == Kind.SUSPENSION and (kind, id_) not in found and self._ttl > 0:
                self._not_suspended[id_] = until


class LostRace(Exception):
    """Another entry point claimed a key first: judge the facts again (its claim is cached)."""


class _Rollback(Exception):
    """Leaves the claim transaction without committing (the request is refused)."""


class Admission:
    """Judging against the claims registry of `schema`, through one process-wide cache."""

    def __init__(
        self, pool: asyncpg.Pool, schema: str, cache: ClaimCache, bounds: ownership.TimeBounds
    ) -> None:
        self.pool, self.schema, self.cache, self.bounds = pool, schema, cache, bounds

    async def known_claims(
        self, events: Sequence[Event[Any]], unread: frozenset[Key] | set[Key] = frozenset()
    ) -> dict[Key, str]:
        """The claims deciding these events' owners: cached, or read (and then cached).

        `unread`: keys not to ask the database for (judged as unclaimed; see `admit_each`).
        """
        known, missing = self.cache.lookup(ownership.keys_for(events))
        missing -= unread
        if missing:
            found = await read_claims(self.pool, self.schema, missing)
            self.cache.remember(missing, found)
            known.update(found)
        return known

    async def admit_request(
        self, speaker: Speaker, events: Sequence[Event[Any]], now: dt.datetime
    ) -> list[Refusal]:
        """Judge a request whole; store the claims it makes when it may pass (the gateway)."""
        known = await self.known_claims(events)
        refused, claims = admission.judge_request(speaker, events, known, now, self.bounds)
        if refused or not claims:
            return refused
        async with self.pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            try:
                async with conn.transaction():  # a refused request leaves no claim behind
                    stored = await store_claims(conn, self.schema, claims)
                    if any(stored.get(key) != owner for key, owner in claims.items()):
                        # Another request claimed first, meanwhile: judge again with its claims.
                        refused, _ = admission.judge_request(
                            speaker, events, {**known, **stored}, now, self.bounds
                        )
                        if refused:
                            raise _Rollback
            except _Rollback:
                return refused
        self.cache.remember(stored, stored)  # committed: safe to remember
        return []

    async def judge_batch(
        self, groups: Sequence[tuple[Speaker, Sequence[Event[Any]], Sequence[dt.datetime]]]
    ) -> tuple[list[list[Refusal]], dict[Key, str]]:
        """Judge each event on its own, speaker by speaker (the router's batch).

        Returns each group's refusals and the claims the accepted events make, to be
        stored with `store` before the facts go out. A group sees the claims the groups
        before it made, so two speakers claiming one new key in a batch cannot both win.

        The keys these events would claim themselves (a registration's volunteer, a
        launch's campaign, a publication's opportunity) are not read first: judged as
        unclaimed, their claims go to `store`, where a key someone else claimed before
        shows up as a `LostRace` (the winner cached: judged again, it is known). Mostly
        new keys (every registration), this saves a query of thousands of keys a batch.
        """
        every = [e for _, events, _ in groups for e in events]
        unread = {key for e in every for key, _ in ownership.claims_of(e) if key[0] in _OPTIMISTIC}
        view = await self.known_claims(every, unread)
        claims: dict[Key, str] = {}
        refusals = []
        for speaker, events, entered in groups:
            refused, made = admission.judge_each(speaker, events, view, entered, self.bounds)
            refusals.append(refused)
            view.update(made)
            claims.update(made)
        return refusals, claims

    async def store(self, claims: dict[Key, str]) -> None:
        """Store the claims in one transaction; `LostRace` (none stored) when another entry
        point made one of them first: its committed claims are then cached, so the facts
        judged again see the owner."""
        if not claims:
            return
        async with self.pool.acquire(timeout=DB_TIMEOUT_S) as conn:
            try:
                async with conn.transaction():  # all the claims or none
                    stored = await store_claims(conn, self.schema, claims)
                    if any(stored.get(key) != owner for key, owner in claims.items()):
                        raise _Rollback
            except _Rollback:
                committed = await read_claims(conn, self.schema, claims)
                self.cache.remember(committed, committed)
                lost = sum(committed.get(key) not in (None, owner) for key, owner in claims.items())
                msg = f"{lost} claims were made first by another entry point"
                raise LostRace(msg) from None
        self.cache.remember(stored, stored)
