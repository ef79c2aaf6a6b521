"""Rebuild a read model from the start of the log while the old one keeps serving.

1. A fresh schema `<name>__rebuild` gets the projector's tables; a new consumer group
   replays every topic from offset 0 up to the end offsets seen at the start.
2. Hand-off: in one transaction, lock the live schema's `_offsets` (the live projector,
   if running, pauses at its next batch), read the live offsets, let the rebuild catch
   up to at least them, then rename live -> `<name>__old` and rebuild -> `<name>`.
   Dashboards read `<name>.*` by name: the old tables until the commit, the new after.
3. The live projector resumes on the new schema: its statements resolve names afresh
   (no prepared-statement cache), its stored offsets are at or past its position, and
   records below them are skipped as on any redelivery. The `dashboard` BI views are
   recreated on the new tables in the same transaction; the old schema is dropped.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from consumers.runtime import Projector, ProjectorRuntime, bookkeeping
from infra.db import connect
from infra.kafka import end_offsets
from infra.settings import Settings

Progress = Callable[[int, int], None]  # (records done, records total)
HANDOFF_WAIT_S = 120.0


@dataclass(frozen=True)
class RebuildReport:
    """What a rebuild did."""

    schema: str
    records: int
    seconds: float
    events_applied: int


class RebuildError(RuntimeError):
    """The rebuild could not finish; the live read model was left untouched."""


async def _run_until(
    runtime: ProjectorRuntime,
    targets: dict[TopicPartition, int],
    progress: Progress | None,
    wait_s: float | None = None,
) -> None:
    runtime.stop_at = targets
    total = sum(targets.values())
    task = asyncio.create_task(runtime.run())
    deadline = None if wait_s is None else time.monotonic() + wait_s
    while not task.done():
        if progress:
            progress(
                sum(min(runtime.applied.get(tp, 0), end) for tp, end in targets.items()), total
            )
        if deadline is not None and time.monotonic() > deadline:
            runtime.stopping.set()
            await task
            msg = f"the rebuild did not catch up with the live offsets within {wait_s:.0f}s"
            raise RebuildError(msg)
        await asyncio.wait({task}, timeout=0.5)
    await task
    if progress:
        progress(total, total)


async def rebuild(
    settings: Settings,
    projector: Projector,
    *,
    schema: str | None = None,
    topic_prefix: str = "",
    progress: Progress | None = None,
    keep_old: bool = False,
    dashboard_views: bool = True,
) -> RebuildReport:
    """Rebuild `schema` (default: the projector's) from offset 0 and swap it in atomically."""
    live = schema or projector.schema
    fresh, old = f"{live}__rebuild", f"{live}__old"
    began = time.monotonic()
    conn = await connect(settings)
    try:
        await conn.execute(f'drop schema if exists "{fresh}" cascade')
        runtime = ProjectorRuntime(
            projector, settings, schema=fresh, topic_prefix=topic_prefix,
            group_id=f"tatawwu.rebuild.{live}.{int(time.time() * 1000)}",
        )  # fmt: skip
        await runtime.start()
        try:
            topics = [topic_prefix + t for t in projector.topics]
            await _run_until(runtime, await end_offsets(settings, topics=topics), progress)
            async with conn.transaction():
                targets = await bookkeeping.lock_live_offsets(conn, live)
                if targets is not None:
                    # The live projector is paused on our lock: bound the wait, and on
                    # failure roll back (releasing it) rather than stall the live model.
                    await _run_until(runtime, targets, None, wait_s=HANDOFF_WAIT_S)
                    await conn.execute(f'drop schema if exists "{old}" cascade')
                    await conn.execute(f'alter schema "{live}" rename to "{old}"')
                await conn.execute(f'alter schema "{fresh}" rename to "{live}"')
                if live == projector.schema and dashboard_views:
                    # The BI views point at the replaced tables: point them at the new ones
                    # before the old schema is dropped (its CASCADE would drop them).
                    from consumers.api.dashboard_sql import create_dashboard_views

                    await create_dashboard_views(conn, k=settings.api_min_cell)
            applied = await bookkeeping.events_applied(conn, live)
        finally:
            await runtime.close()
        if not keep_old:
            await conn.execute(f'drop schema if exists "{old}" cascade')
        records = sum(runtime.applied.values())
    finally:
        await conn.close()
    return RebuildReport(live, records, time.monotonic() - began, applied)
