"""Helpers to run a projector against isolated copies of the catalog topics."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import asyncpg
from aiokafka import TopicPartition

from consumers.participations import Participation, row_to_participation
from consumers.runtime import Projector, ProjectorRuntime
from infra import kafka
from infra.claims import registry_schema
from infra.db import connect
from infra.kafka import ensure_topics
from infra.settings import Settings
from schemas.topics import CATALOG


async def create_prefixed_topics(settings: Settings, prefix: str) -> None:
    """The catalog's topics under `prefix` (same partition counts), for one test."""
    await ensure_topics(settings, [replace(spec, name=prefix + spec.name) for spec in CATALOG])


async def delete_topics(settings: Settings, prefix: str) -> None:
    """Delete every topic whose name starts with prefix (a run's own topics)."""
    admin = kafka.build_admin(settings)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    """The current end offset of every partition of these topics (`infra.kafka`'s, by name)."""
    return await kafka.end_offsets(settings, topics=topics)


async def wait_caught_up(
    conn: asyncpg.Connection,
    schema: str,
    ends: dict[TopicPartition, int],
    wait_s: float,
    *,
    check: Callable[[], None] | None = None,
) -> None:
    """Wait until the projector's stored offsets reach the given end offsets.

    `check` runs before each look and may raise (a runtime that stopped by itself, say).
    """
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        if check is not None:
            check()
        rows = (
            await conn.fetch(f'select topic, kafka_partition, next_offset from "{schema}"._offsets')
            if await conn.fetchval("select to_regclass($1)", f'"{schema}"._offsets')
            else []
        )
        stored = {TopicPartition(r["topic"], r["kafka_partition"]): r["next_offset"] for r in rows}
        behind = {tp: end for tp, end in ends.items() if end > 0 and stored.get(tp, 0) < end}
        if not behind and not await _freeable_parked(conn, schema, ends):
            return
        if asyncio.get_running_loop().time() > deadline:
            msg = f"projector still behind after {wait_s}s: {behind} stored {stored}"
            raise AssertionError(msg)
        await asyncio.sleep(0.2)


async def _freeable_parked(
    conn: asyncpg.Connection, schema: str, ends: dict[TopicPartition, int]
) -> int:
    """Parked facts whose claim has arrived but that no batch has looked at yet.

    Caught up means those are applied too (the projector frees them in its next batch, or
    within PARKED_SWEEP_S when idle), not only that the offsets reached the end.
    """
    topic = next(iter(ends)).topic if ends else ""
    registry = registry_schema(topic[: topic.find("tatawwu.")] if "tatawwu." in topic else "")
    if not await conn.fetchval("select to_regclass($1)", f'"{schema}"._parked'):
        return 0
    if not await conn.fetchval("select to_regclass($1)", f'"{registry}".claims'):
        return 0
    return await conn.fetchval(
        f'select count(*) from "{schema}"._parked p join "{registry}".claims c'
        " on c.kind = p.needs_kind and c.id = p.needs_id"
    )


async def read_participations(
    conn: asyncpg.Connection, schema: str
) -> dict[tuple[str, str], Participation]:
    """The participations table as the pure model's rows."""
    rows = await conn.fetch(f'select * from "{schema}".participations')
    return {(r["volunteer_id"], r["opportunity_id"]): row_to_participation(r) for r in rows}


@asynccontextmanager
async def running_projector(
    projector: Projector,
    settings: Settings,
    *,
    schema: str,
    group_id: str,
    topic_prefix: str,
    max_records: int = 1000,
) -> AsyncIterator[ProjectorRuntime]:
    """A projector's runtime started and running in a task; stopped and closed on exit."""
    runtime = ProjectorRuntime(projector, settings, schema=schema, group_id=group_id,
                               topic_prefix=topic_prefix, max_records=max_records)  # fmt: skip
    await runtime.start()
    task = asyncio.create_task(runtime.run())
    try:
        yield runtime
    finally:
        runtime.stopping.set()
        try:
            await task
        finally:
            await runtime.close()


async def run_until_caught_up(
    settings: Settings,
    projectors: dict[str, Projector],
    schemas: dict[str, str],
    prefix: str,
    *,
    group: str,
    wait_s: float = 120,
    max_records: int = 5000,
) -> None:
    """Run each projector on `prefix` topics into its schema until it has applied everything
    published so far, then stop it cleanly (the start / catch up / stop every test repeats)."""
    async with contextlib.AsyncExitStack() as running:
        for name, projector in projectors.items():
            await running.enter_async_context(
                running_projector(
                    projector,
                    settings,
                    schema=schemas[name],
                    group_id=f"{group}-{name}",
                    topic_prefix=prefix,
                    max_records=max_records,
                )
            )
        conn = await connect(settings)
        try:
            for name, projector in projectors.items():
                ends = await end_offsets(settings, [prefix + t for t in projector.topics])
                await wait_caught_up(conn, schemas[name], ends, wait_s=wait_s)
        finally:
            await conn.close()
