"""Every read model equals the simulator's ground truth after a hostile stream."""

from __future__ import annotations

import datetime as dt

import pytest

from infra.db import connect
from infra.settings import Settings
from producers.simulator import SimConfig, Via, run, simulate
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import run_until_caught_up
from tests.support.truth import compare, expected_dead_letters

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_all_read_models_equal_the_ground_truth_after_duplicates_reordering_and_bad_records(
    stack: Settings, unique: str
) -> None:
    """Simulated national activity with 3% duplicates, reordering and 1% invalid records:
    campaigns, opportunities, volunteers, organisations, sectors and the KPI equal the truth,
    and each projector dead-lettered exactly the invalid records on its topics."""
    prefix = f"gt.{unique}."
    config = SimConfig(seed=17, volunteers=1_500, days=45, until=dt.date(2026, 5, 31),
                       duplicates=0.03, invalid=0.01, reorder=True)  # fmt: skip
    simulation = simulate(config, topic_prefix=prefix)
    truth = simulation.truth()
    await run(simulation, via=Via.KAFKA, settings=stack, topic_prefix=prefix)
    schemas = {name: f"gt_{name}_{unique}" for name in PROJECTORS}
    await run_until_caught_up(stack, PROJECTORS, schemas, prefix, group=f"gt-{unique}")
    conn = await connect(stack)
    try:
        for name, projector in PROJECTORS.items():
            stats = await conn.fetchrow(f'select * from "{schemas[name]}"._stats')
            assert stats["dead_lettered"] == expected_dead_letters(truth, projector.topics), name
        assert await compare(conn, schemas, truth) == {}
    finally:
        await conn.close()
