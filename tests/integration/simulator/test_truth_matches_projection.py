"""End to end: the simulator's truth equals what the campaigns projector builds from its stream."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from consumers.campaigns import PROJECTOR
from infra.db import connect
from infra.settings import Settings
from producers.simulator import SimConfig, Via, run, simulate
from tests.support.projectors import (
    delete_topics,
    end_offsets,
    running_projector,
    wait_caught_up,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
COUNTS = ("signups", "withdrawals", "check_ins", "no_shows", "verified_hours")


def as_json(row: dict) -> dict:
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in row.items()}


async def test_campaign_and_opportunity_stats_equal_the_truth(stack: Settings, unique: str) -> None:
    """Duplicated, reordered, partly invalid stream in; every campaign's and opportunity's stats
    out of PostgreSQL equal the ground truth computed from the world model."""
    prefix, schema = f"sim.{unique}.", f"test_sim_campaigns_{unique}"
    config = SimConfig(seed=9, volunteers=500, days=20, until=dt.date(2025, 6, 30),
                       duplicates=0.03, invalid=0.01, reorder=True)  # fmt: skip
    simulation = simulate(config, topic_prefix=prefix)
    truth = simulation.truth()
    await run(simulation, via=Via.KAFKA, settings=stack, topic_prefix=prefix)
    conn = await connect(stack)
    try:
        running = running_projector(PROJECTOR, stack, schema=schema, group_id=f"g-{unique}",
                                    topic_prefix=prefix, max_records=5000)  # fmt: skip
        async with running:
            ends = await end_offsets(stack, [prefix + t for t in PROJECTOR.topics])
            await wait_caught_up(conn, schema, ends, wait_s=60)
            campaigns = {r["campaign_id"]: as_json(dict(r))
                         for r in await conn.fetch(f'select * from "{schema}".campaign_stats')}  # fmt: skip
            opportunities = {r["opportunity_id"]: as_json(dict(r))
                             for r in await conn.fetch(f'select * from "{schema}".opportunity_stats')}  # fmt: skip
    finally:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()
        await delete_topics(stack, prefix)
    keys = (*COUNTS, "volunteers_attended", "status")
    assert {cid: {k: row[k] for k in keys} for cid, row in campaigns.items()} == {
        cid: {k: row[k] for k in keys} for cid, row in truth["campaigns"].items()
    }
    keys = (*COUNTS, "waitlisted", "capacity", "status")
    assert {oid: {k: row[k] for k in keys} for oid, row in opportunities.items()} == {
        oid: {k: row[k] for k in keys} for oid, row in truth["opportunities"].items()
    }
