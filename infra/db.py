"""The one place that builds asyncpg pools and connections."""

from __future__ import annotations

import re
from typing import Any

import asyncpg
import orjson

from infra.settings import Settings


async def init_connection(conn: asyncpg.Connection) -> None:
    """What every connection of ours is set up with (a pool's `init`; chain it if you override)."""
    # jsonb <-> Python via orjson: read models store small JSON documents (consent, breakdowns).
    await conn.set_type_codec(
        "jsonb",
        encoder=lambda v: orjson.dumps(v).decode(),
        decoder=orjson.loads,
        schema="pg_catalog",
    )


async def rollback_only(conn: asyncpg.Connection) -> None:
    """A pool's `reset` for code that keeps no session state (no advisory locks, `set`,
    `listen`, cursors or prepared statements of its own): only a transaction left open is
    rolled back. asyncpg's default runs a reset query on every release, a round trip each."""
    if conn.is_in_transaction():
        await conn.execute("rollback")


async def create_pool(settings: Settings, **overrides: Any) -> asyncpg.Pool:
    """A pool sized from settings; every component gets its connections here."""
    options: dict[str, Any] = {
        "dsn": settings.dsn,
        "min_size": settings.db_pool_min,
        "max_size": settings.db_pool_max,
        "init": init_connection,
        "command_timeout": 60,
        "server_settings": {"application_name": settings.kafka_client_id},
    }
    options.update(overrides)
    pool = await asyncpg.create_pool(**options)
    assert pool is not None  # create_pool only returns None when awaited lazily
    return pool


async def connect(settings: Settings, **overrides: Any) -> asyncpg.Connection:
    """A single connection (CLI commands, migrations) with the same codecs as the pool."""
    conn = await asyncpg.connect(settings.dsn, **overrides)
    await init_connection(conn)
    return conn


def prefixed_schema(base: str, topic_prefix: str = "") -> str:
    """`base`, or one schema per topic prefix (tests run on their own topics)."""
    if not topic_prefix:
        return base
    return f"{base}_{re.sub(r'[^a-z0-9]+', '_', topic_prefix.lower()).strip('_')}"[:63]


async def execute_locked(conn: asyncpg.Connection, lock: str, ddl: str) -> None:
    """Run idempotent DDL under a session advisory lock named `lock` (one creator at a time)."""
    await conn.execute("select pg_advisory_lock(hashtext($1))", lock)
    try:
        await conn.execute(ddl)
    finally:
        await conn.execute("select pg_advisory_unlock(hashtext($1))", lock)
