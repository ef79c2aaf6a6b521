"""`rebuild` of the participation read model gives the same KPI projection (real Kafka)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from consumers.participation import PROJECTOR
from consumers.participation.coverage import ZONE
from consumers.rebuild import rebuild
from consumers.runtime import ProjectorRuntime
from infra.db import connect
from infra.settings import Settings
from producers.simulator import SimConfig, Via, run, simulate
from tests.integration.ordering.replay import snapshot
from tests.integration.participation.test_kpi_projection import assert_same_answers
from tests.support.projectors import (
    create_prefixed_topics,
    delete_topics,
    end_offsets,
    wait_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
KPI_TABLES = ("kpi_volunteers", "kpi_active", "kpi_monthly", "kpi_hours", "kpi_hours_total")


async def test_rebuild_from_the_log_gives_the_tables_the_live_projector_kept(
    stack: Settings, unique: str
) -> None:
    """A simulated year projected live, then rebuilt from offset 0: the same projection,
    and it still answers as the scan does."""
    prefix, schema = f"kpirb.{unique}.", f"kpirb_{unique}"
    await create_prefixed_topics(stack, prefix)
    until = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    config = SimConfig(
        seed=11, volunteers=400, days=400, until=until, duplicates=0.02, reorder=True
    )
    await run(
        simulate(config, topic_prefix=prefix), via=Via.KAFKA, settings=stack, topic_prefix=prefix
    )
    live = ProjectorRuntime(
        PROJECTOR, stack, schema=schema, group_id=f"kpirb-{unique}", topic_prefix=prefix
    )
    await live.start()
    task = asyncio.create_task(live.run())
    conn = await connect(stack)
    try:
        ends = await end_offsets(stack, [prefix + t for t in PROJECTOR.topics])
        await wait_caught_up(conn, schema, ends, wait_s=300)
        live.stopping.set()
        await task
        await live.close()
        kept = {t: rows for t, rows in (await snapshot(conn, schema)).items() if t in KPI_TABLES}
        assert kept["kpi_volunteers"], "the simulated year has active volunteers"
        await rebuild(stack, PROJECTOR, schema=schema, topic_prefix=prefix)
        rebuilt = {t: rows for t, rows in (await snapshot(conn, schema)).items() if t in KPI_TABLES}
        assert rebuilt == kept
        today = dt.datetime.now(ZONE).date()
        await assert_same_answers(
            conn, schema, [today - dt.timedelta(days=n) for n in (1, 2, 90, 380)]
        )
    finally:
        if not task.done():
            live.stopping.set()
            await task
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()
        await delete_topics(stack, prefix)
