"""Admission where a fact enters: claims read through a cache, judged, stored, re-judged.

Both entry points (the gateway's `POST /v1/events`, the Kafka-ingress router) decide with
`schemas.admission` against the claims registry (`infra.claims`) read through a
`ClaimCache`, then store the claims the accepted facts make. Claims are first-come: when
another entry point claimed a key first meanwhile, the facts are judged again with the
stored owners (`admit_request` for a whole gateway request, `admit_each` record by record).

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
RACE_ROUNDS = 5  # a key lost to another entry point at most this often in a row


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


class _Rollback(Exception):
    """Leaves the claim transaction without committing (the request is refused)."""


class Admission:
    """Judging against the claims registry of `schema`, through one process-wide cache."""

    def __init__(
        self, pool: asyncpg.Pool, schema: str, cache: ClaimCache, bounds: ownership.TimeBounds
    ) -> None:
        self.pool, self.schema, self.cache, self.bounds = pool, schema, cache, bounds

    async def known_claims(self, events: Sequence[Event[Any]]) -> dict[Key, str]:
        """The claims deciding these events' owners: cached, or read (and then cached)."""
        known, missing = self.cache.lookup(ownership.keys_for(events))
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

    async def admit_each(
        self, speaker: Speaker, events: Sequence[Event[Any]], entered: Sequence[dt.datetime]
    ) -> list[Refusal]:
        """Judge each event on its own and store the accepted ones' claims (the router).

        When another entry point claimed a key first, the events are judged again with
        the stored owners, until the claims made are the ones stored.
        """
        known = await self.known_claims(events)
        for _ in range(RACE_ROUNDS):
            refused, claims = admission.judge_each(speaker, events, known, entered, self.bounds)
            if not claims:
                return refused
            async with self.pool.acquire(timeout=DB_TIMEOUT_S) as conn:
                try:
                    async with conn.transaction():  # all the claims or none
                        stored = await store_claims(conn, self.schema, claims)
                        if any(stored.get(key) != owner for key, owner in claims.items()):
                            raise _Rollback
                except _Rollback:
                    known = {**known, **stored}  # lost a race: judge again with the winner's
                    continue
            self.cache.remember(stored, stored)
            return refused
        msg = f"claims kept changing under {RACE_ROUNDS} rounds of judging"
        raise RuntimeError(msg)
