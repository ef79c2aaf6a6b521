"""The gateway's partner keys: add, list, revoke, verify (claims live in `claims.py`)."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from infra.migrations import Migrations
from producers.gateway.keys import (
    IssuedKey,
    MalformedKey,
    Principal,
    issue_key,
    parse_key,
    secret_matches,
)

MIGRATIONS = Migrations("gateway", Path(__file__).with_name("sql"))

Executor = asyncpg.Connection | asyncpg.Pool
QUERY_TIMEOUT_S = 3.0  # the gateway answers 503 rather than wait on a stuck database


class UnknownKey(LookupError):
    """No partner key has that id."""


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """One row of `tatawwu partners list` (never the secret or its hash)."""

    key_id: str
    org_id: str
    is_admin: bool
    created_at: dt.datetime
    revoked_at: dt.datetime | None


async def add_partner_key(db: Executor, org_id: str, *, admin: bool = False) -> IssuedKey:
    """Create and store a key for `org_id`; the returned `key` is never retrievable again."""
    issued = issue_key()
    await db.execute(
        "insert into gateway_partner_keys (key_id, org_id, is_admin, secret_hash)"
        " values ($1, $2, $3, $4)",
        issued.key_id,
        org_id,
        admin,
        issued.secret_hash,
    )
    return issued


async def list_partner_keys(db: Executor) -> list[KeyRecord]:
    """Every key, oldest first, revoked ones included."""
    rows = await db.fetch(
        "select key_id, org_id, is_admin, created_at, revoked_at"
        " from gateway_partner_keys order by created_at, key_id"
    )
    return [KeyRecord(**dict(row)) for row in rows]


async def revoke_partner_key(db: Executor, key_id: str) -> None:
    """Mark a key revoked (idempotent); raises UnknownKey when there is no such key."""
    status = await db.execute(
        "update gateway_partner_keys set revoked_at = coalesce(revoked_at, now())"
        " where key_id = $1",
        key_id,
    )
    if status.endswith(" 0"):
        msg = f"no partner key {key_id!r}"
        raise UnknownKey(msg)


class KeyVerifier:
    """Turns a bearer key into a Principal, caching good answers for `ttl` seconds.

    The cache keeps a hot gateway off PostgreSQL; its TTL bounds how long a revoked key
    keeps working on a gateway process that had just seen it.
    """

    def __init__(self, db: Executor, ttl: float, clock=time.monotonic) -> None:  # type: ignore[no-untyped-def]
        self._db = db
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[str, tuple[float, str, Principal]] = {}

    async def verify(self, key: str) -> Principal | None:
        """The principal for a valid, unrevoked key; None for anything else."""
        try:
            key_id, secret = parse_key(key)
        except MalformedKey:
            return None
        now = self._clock()
        cached = self._cache.get(key_id)
        if cached is not None and cached[0] > now:
            _, stored_hash, principal = cached
            return principal if secret_matches(secret, stored_hash) else None
        row = await self._db.fetchrow(
            "select org_id, is_admin, secret_hash from gateway_partner_keys"
            " where key_id = $1 and revoked_at is null",
            key_id,
            timeout=QUERY_TIMEOUT_S,
        )
        if row is None:
            self._cache.pop(key_id, None)
            return None
        principal = Principal(key_id, row["org_id"], row["is_admin"])
        if self._ttl > 0:
            self._cache[key_id] = (now + self._ttl, row["secret_hash"], principal)
        return principal if secret_matches(secret, row["secret_hash"]) else None
