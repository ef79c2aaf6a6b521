"""The platform's claims registry: who owns which campaign, opportunity, volunteer; suspensions.

One table that every entry point (the gateway, the Kafka-ingress router) and every
projector reads and writes, so they all decide ownership from the same first claims
(`schemas/ownership.py`): a claim is first-come and never changes, and a rebuilt
projection finds the claims the live one made. Production uses schema `ownership`;
a test running projectors on its own topic prefix gets a registry of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg

from infra.db import execute_locked, prefixed_schema
from schemas.ownership import Key

DEFAULT_SCHEMA = "ownership"
QUERY_TIMEOUT_S = 3.0

# Idempotent: created at start by whoever needs it first (advisory-locked).
_DDL = """
create schema if not exists "{schema}";
create table if not exists "{schema}".claims (
    kind       text        not null,
    id         text        not null,
    owner      text        not null,
    claimed_at timestamptz not null default now(),
    primary key (kind, id)
);
-- The transaction that made each claim: a projector frees the facts parked for a claim by
-- looking only at the claims made since it last looked (`claims_mark`), not by joining
-- every parked fact to the registry on every batch.
alter table "{schema}".claims
    add column if not exists made_in xid8 not null default pg_current_xact_id();
create index if not exists claims_made_in on "{schema}".claims (made_in);
-- Statistics for `made_in` from the start (a column just added has none, and the planner
-- would then guess a third of the registry new and scan `_parked` whole); a sample, cheap.
analyze "{schema}".claims;
"""

Executor = asyncpg.Connection | asyncpg.Pool


def registry_schema(topic_prefix: str = "") -> str:
    """The registry's schema: `ownership`, or one per topic prefix (tests)."""
    return prefixed_schema(DEFAULT_SCHEMA, topic_prefix)


async def ensure_registry(conn: asyncpg.Connection, schema: str) -> None:
    """Create the registry's schema and table when missing."""
    await execute_locked(conn, f"claims:{schema}", _DDL.format(schema=schema))


async def claims_mark(db: Executor) -> int:
    """Where to look from next time for claims this transaction may not see: the oldest
    transaction still running (`pg_snapshot_xmin`). A claim invisible to any statement
    after this one was made by a transaction running now or started later, so its
    `made_in` is at least this."""
    return int(await db.fetchval("select pg_snapshot_xmin(pg_current_snapshot())::text"))


async def read_claims(db: Executor, schema: str, keys: Iterable[Key]) -> dict[Key, str]:
    """The stored claims among `keys`."""
    ask = sorted(keys)
    if not ask:
        return {}
    # Two text arrays, unnested: measured cheaper than a JSON array of pairs for the
    # thousands of keys a router batch asks about.
    rows = await db.fetch(
        f'select c.kind, c.id, c.owner from "{schema}".claims c'
        " join unnest($1::text[], $2::text[]) as k(kind, id) on c.kind = k.kind and c.id = k.id",
        [kind for kind, _ in ask],
        [id_ for _, id_ in ask],
        timeout=QUERY_TIMEOUT_S,
    )
    return {(r["kind"], r["id"]): r["owner"] for r in rows}


async def store_claims(db: Executor, schema: str, claims: dict[Key, str]) -> dict[Key, str]:
    """Insert the claims not made before; return the owner now stored for each (first wins)."""
    if not claims:
        return {}
    rows = sorted(claims.items())
    inserted = await db.fetch(
        f'insert into "{schema}".claims (kind, id, owner)'
        " select * from unnest($1::text[], $2::text[], $3::text[])"
        " on conflict do nothing returning kind, id, owner",
        [kind for (kind, _), _ in rows],
        [id_ for (_, id_), _ in rows],
        [owner for _, owner in rows],
        timeout=QUERY_TIMEOUT_S,
    )
    if len(inserted) == len(claims):  # every one new: stored as given
        return dict(claims)
    stored = {(r["kind"], r["id"]): r["owner"] for r in inserted}
    # Made before (by another entry point, or by this one): read what is stored.
    stored.update(await read_claims(db, schema, [k for k in claims if k not in stored]))
    return stored
