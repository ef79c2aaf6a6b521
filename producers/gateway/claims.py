"""The gateway's claims (who owns which campaign, opportunity, volunteer; who is suspended).

Claims never change once made, so every claim read is cached for the process's life; the
only answer cached for a while only is "not suspended" (`ttl`, like partner keys), so a
suspension takes effect on every gateway process within that delay.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import asyncpg
import orjson

from schemas.ownership import Key, Kind

QUERY_TIMEOUT_S = 3.0
MAX_CACHED = 200_000


async def read_claims(
    conn: asyncpg.Connection | asyncpg.Pool, keys: Iterable[Key]
) -> dict[Key, str]:
    """The stored claims among `keys`."""
    ask = sorted(keys)
    if not ask:
        return {}
    rows = await conn.fetch(
        "select c.kind, c.id, c.owner from gateway_claims c"
        " join jsonb_array_elements($1::text::jsonb) as k on c.kind = k->>0 and c.id = k->>1",
        orjson.dumps(ask).decode(),
        timeout=QUERY_TIMEOUT_S,
    )
    return {(r["kind"], r["id"]): r["owner"] for r in rows}


async def store_claims(conn: asyncpg.Connection, claims: dict[Key, str]) -> dict[Key, str]:
    """Insert the claims not made before; return the owner stored for each (first wins)."""
    rows = [(kind, id_, owner) for (kind, id_), owner in sorted(claims.items())]
    await conn.execute(
        "insert into gateway_claims (kind, id, owner)"
        " select r->>0, r->>1, r->>2 from jsonb_array_elements($1::text::jsonb) as r"
        " on conflict do nothing",
        orjson.dumps(rows).decode(),
        timeout=QUERY_TIMEOUT_S,
    )
    return await read_claims(conn, claims)


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
