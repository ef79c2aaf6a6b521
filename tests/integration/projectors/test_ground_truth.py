"""Every read model equals the simulator's ground truth after a hostile stream."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from consumers.registry import PROJECTORS
from consumers.runtime import ProjectorRuntime
from infra.db import connect
from infra.settings import Settings
from producers.simulator import SimConfig, Via, run, simulate
from tests.support.projectors import end_offsets, wait_caught_up
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
    runtimes = [
        ProjectorRuntime(
            p, stack, schema=schemas[n], group_id=f"gt-{n}-{unique}", topic_prefix=prefix
        )
        for n, p in PROJECTORS.items()
    ]
    for runtime in runtimes:
        await runtime.start()
    tasks = [asyncio.create_task(r.run()) for r in runtimes]
    conn = await connect(stack)
    try:
        for name, projector in PROJECTORS.items():
            ends = await end_offsets(stack, [prefix + t for t in projector.topics])
            await wait_caught_up(conn, schemas[name], ends, wait_s=120)
            stats = await conn.fetchrow(f'select * from "{schemas[name]}"._stats')
            assert stats["dead_lettered"] == expected_dead_letters(truth, projector.topics), name
        assert await compare(conn, schemas, truth) == {}
    finally:
        for runtime in runtimes:
            runtime.stopping.set()
        await asyncio.gather(*tasks)
        for runtime in runtimes:
            await runtime.close()
        await conn.close()
