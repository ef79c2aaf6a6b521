"""The `dashboard` schema of BI views and the read-only role that may read only them.

Views bind to tables, not names: when `tatawwu projections rebuild` renames a schema
away and drops it with CASCADE, the views over it go too. `create_dashboard_views`
therefore drops and recreates them all in one transaction (idempotent, safe to call
concurrently); the rebuild calls it right after the swap and the read API at start-up.

The views run with their owner's rights (no SECURITY DEFINER functions, no
`security_invoker`): the role `tatawwu_dashboard` gets USAGE on the dashboard schema and
SELECT on its views, nothing on the base schemas, so it can read the views and no table.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import structlog

from consumers.api.days import Day, counted, today
from consumers.api.kpi import PUBLISHED, kpi, record_for_bi
from consumers.api.queries import CAMPAIGN_ROWS
from consumers.api.sources import Sources, quoted

log = structlog.get_logger(__name__)
TEMPLATE = Path(__file__).with_name("sql") / "dashboard_views.sql"
_HEADER = re.compile(r"^-- view: (\w+) needs: ([\w ]+)$", re.MULTILINE)
# The table whose presence shows a read model's schema is ready, per read model.
_READY = {
    "campaigns": "campaign_stats",
    "volunteers": "_stats",
    "organizations": "sector_stats",
    "participation": "activity",
}


def counted_today(zone: str) -> Day:
    """The day the BI views show: today's national document (complete days only)."""
    return counted(today(zone), zone)


def view_blocks(sources: Sources, k: int) -> list[tuple[str, tuple[str, ...], str]]:
    """(view name, read models it needs, SQL) for every view, placeholders filled."""
    text = TEMPLATE.read_text()
    heads = list(_HEADER.finditer(text))
    values = {
        "d": sources.q("dashboard"), "c": sources.q("campaigns"), "v": sources.q("volunteers"),
        "o": sources.q("organizations"), "p": sources.q("participation"), "k": int(k),
        "campaign_rows": CAMPAIGN_ROWS.format(c=sources.q("campaigns")),
    }  # fmt: skip
    blocks = []
    for n, head in enumerate(heads):
        end = heads[n + 1].start() if n + 1 < len(heads) else len(text)
        sql = text[head.end() : end].format(**values)
        blocks.append((head.group(1), tuple(head.group(2).split()), sql))
    return blocks


async def create_dashboard_views(
    conn: asyncpg.Connection,
    schemas: Mapping[str, str] | None = None,
    *,
    dashboard: str = "dashboard",
    k: int = 10,
    role: str = "tatawwu_dashboard",
    zone: str = "Asia/Qatar",
) -> list[str]:
    """(Re)create every view whose read models exist; return the names created."""
    sources = Sources.of(schemas, dashboard)
    d = sources.q("dashboard")
    created = []
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(hashtext($1))", f"dashboard:{dashboard}")
        await conn.execute(f"create schema if not exists {d}")
        ready = {
            model: await conn.fetchval(
                "select to_regclass($1)", f"{quoted(schema)}.{_READY[model]}"
            )
            is not None
            for model, schema in sources.read_models.items()
        }
        if ready["participation"]:
            await conn.execute(PUBLISHED.format(d=d))
        for name, needs, sql in view_blocks(sources, k):
            await conn.execute(f"drop view if exists {d}.{quoted(name)} cascade")
            if all(ready[model] for model in needs):
                await conn.execute(sql)
                created.append(name)
        if await conn.fetchval("select 1 from pg_roles where rolname = $1", role):
            await conn.execute(f"grant usage on schema {d} to {quoted(role)}")
            await conn.execute(f"grant select on all tables in schema {d} to {quoted(role)}")
    # Inside a caller's transaction (a rebuild's swap) the copy is left as it is: the
    # KPI needs its own read-only snapshot, and the next KPI computation refreshes it.
    if ready["participation"] and not conn.is_in_transaction():
        await record_for_bi(conn, sources, await kpi(conn, sources, counted_today(zone), k=k,
                                                     hourly_rate=0.0, municipality=None))  # fmt: skip
    missing = sorted(m for m, ok in ready.items() if not ok)
    log.info("dashboard_views_created", schema=dashboard, views=len(created), missing=missing)
    return created


async def grant_readonly(
    conn: asyncpg.Connection,
    *,
    role: str = "tatawwu_dashboard",
    dashboard: str = "dashboard",
    password: str | None = None,
) -> None:
    """Create (or tighten) the LOGIN role that may SELECT from the dashboard views only."""
    r, d = quoted(role), quoted(dashboard)
    database = quoted(await conn.fetchval("select current_database()"))
    async with conn.transaction():
        if not await conn.fetchval("select 1 from pg_roles where rolname = $1", role):
            await conn.execute(f"create role {r} login")
        # A role created by a CREATEROLE (non-superuser) owner is never superuser,
        # replication or bypassrls; make sure it cannot create databases or roles either.
        await conn.execute(f"alter role {r} login nocreatedb nocreaterole")
        await conn.execute(f"alter role {r} set default_transaction_read_only = on")
        if password is not None:
            literal = await conn.fetchval("select quote_literal($1)", password)
            await conn.execute(f"alter role {r} password {literal}")
        await conn.execute(f"grant connect on database {database} to {r}")
        await conn.execute(f"create schema if not exists {d}")
        await conn.execute(f"grant usage on schema {d} to {r}")
        await conn.execute(f"grant select on all tables in schema {d} to {r}")
        await conn.execute(f"alter default privileges in schema {d} grant select on tables to {r}")


async def revoke_readonly(
    conn: asyncpg.Connection, *, role: str = "tatawwu_dashboard", dashboard: str = "dashboard"
) -> None:
    """Remove the read-only role and every privilege it was given."""
    if not await conn.fetchval("select 1 from pg_roles where rolname = $1", role):
        return
    r, d = quoted(role), quoted(dashboard)
    database = quoted(await conn.fetchval("select current_database()"))
    async with conn.transaction():
        if await conn.fetchval("select 1 from pg_namespace where nspname = $1", dashboard):
            await conn.execute(
                f"alter default privileges in schema {d} revoke select on tables from {r}"
            )
            await conn.execute(f"revoke all on all tables in schema {d} from {r}")
            await conn.execute(f"revoke all on schema {d} from {r}")
        await conn.execute(f"revoke all on database {database} from {r}")
        await conn.execute(f"drop role {r}")
