"""The sinks on free ports, settings pointing the notifier at them, and a ledger waiter."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from consumers.notifications.service import serve
from infra.local.sinks import Sinks
from infra.settings import Settings


@pytest.fixture
def notifier_settings(stack: Settings, sinks: Sinks) -> Settings:
    """The stack's settings with the sinks as providers and no quiet hours (CI runs at night)."""
    return stack.model_copy(update={
        "smtp_url": sinks.smtp_url, "sms_url": sinks.sms_url, "notify_quiet_hours": "",
        "email_api_url": sinks.email_api_url,
        "notify_max_attempts": 3,
    })  # fmt: skip


@contextlib.asynccontextmanager
async def notifier(
    settings: Settings, prefix: str, schema: str
) -> AsyncIterator[asyncio.Task[None]]:
    """The notifier (both halves) running in this event loop; stopped cleanly after."""
    stopping = asyncio.Event()
    task = asyncio.create_task(serve(
        settings, schema=schema, group_id=f"g-{schema}", topic_prefix=prefix,
        stopping=stopping, handle_signals=False,
    ))  # fmt: skip
    try:
        yield task
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=30)


async def ledger(conn: asyncpg.Connection, schema: str) -> list[dict[str, Any]]:
    """Every ledger row (empty until the notifier created its schema)."""
    if not await conn.fetchval("select to_regclass($1)", f'"{schema}".outbox'):
        return []
    return [dict(r) for r in await conn.fetch(f'select * from "{schema}".outbox order by 1')]


async def settled(
    conn: asyncpg.Connection, schema: str, expected: int, task: asyncio.Task[None] | None = None,
    wait_s: float = 60, held_ok: bool = False, waiting: frozenset[str] = frozenset(),
) -> list[dict[str, Any]]:  # fmt: skip
    """Wait until the ledger holds `expected` rows, all final and reported; return them.

    `held_ok`: rows waiting for a later time (a reminder days ahead) count as settled;
    `waiting`: pending rows of these templates do.
    """
    deadline = asyncio.get_running_loop().time() + wait_s
    rows: list[dict[str, Any]] = []
    while asyncio.get_running_loop().time() < deadline:
        if task is not None and task.done():
            task.result()  # surface the notifier's crash
        rows = await ledger(conn, schema)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
        held = [
            r for r in rows if r["status"] == "pending"
            and ((held_ok and r["next_attempt_at"] > later) or r["template"] in waiting)
        ]  # fmt: skip
        final = [r for r in rows if r["status"] in ("sent", "failed", "suppressed")]
        if (len(rows) >= expected and len(final) + len(held) == len(rows)
                and all(r["reported"] for r in final)):  # fmt: skip
            return rows
        await asyncio.sleep(0.2)
    states = sorted({(r["status"], r["reported"]) for r in rows})
    msg = f"ledger not settled after {wait_s}s: {len(rows)}/{expected} rows, states {states}"
    raise AssertionError(msg)
