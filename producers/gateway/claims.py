"""The gateway's cache of the claims registry (`infra/claims.py`).

Claims never change once made, so every claim read is cached for the process's life; the
only answer cached for a while only is "not suspended" (`ttl`, like partner keys), so a
suspension takes effect on every gateway process within that delay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from schemas.ownership import Key, Kind

MAX_CACHED = 200_000


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
