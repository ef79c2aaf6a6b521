"""Kill projector processes with SIGKILL again and again mid-stream: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from infra.db import connect
from infra.kafka import build_producer, ensure_topics
from infra.settings import Settings
from producers.simulator import SimConfig, simulate
from producers.simulator.run import prefixed_catalog
from schemas.registry import CURRENT
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import end_offsets, wait_caught_up
from tests.support.truth import compare, expected_dead_letters

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
KILLS = 12  # round-robin over the four projectors: each is killed three times


def start_projector(name: str, prefix: str, schema: str, log: Path) -> subprocess.Popen[bytes]:
    """`tatawwu projections run NAME` as its own process, logging to a file."""
    env = {**os.environ, "TATAWWU_LOG_FORMAT": "json", "TATAWWU_LOG_LEVEL": "INFO"}
    cmd = [
        sys.executable, "-m", "tatawwu", "projections", "run", name,
        "--topic-prefix", prefix, "--schema", schema, "--group-id", f"g-{schema}",
        "--instance-id", f"{name}-chaos",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def unique_events_on(truth: dict, topics: tuple[str, ...]) -> int:
    return sum(
        n for event_type, n in truth["stream"]["events_by_type"].items()
        if CURRENT[event_type].topic.name in topics
    )  # fmt: skip


async def test_sigkills_of_every_projector_during_a_100k_event_stream_lose_and_double_nothing(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """12 SIGKILLs at random moments (each projector 3 times) while 100,000+ simulated events
    stream in with duplicates, reordering and bad records; every read model equals the truth."""
    prefix = f"chaos.{unique}."
    config = SimConfig(seed=2026, volunteers=28_000, days=30, until=dt.date(2026, 5, 31),
                       duplicates=0.02, invalid=0.005, reorder=True)  # fmt: skip
    simulation = simulate(config, topic_prefix=prefix)
    truth = simulation.truth()
    assert len(simulation.records) >= 100_000
    await ensure_topics(stack, prefixed_catalog(prefix))
    schemas = {name: f"chaos_{name}_{unique}" for name in PROJECTORS}
    logs = {name: tmp_path / f"{name}.log" for name in PROJECTORS}
    rng = random.Random(unique)
    producer = build_producer(stack, linger_ms=20)
    await producer.start()

    async def stream_in() -> None:
        for start in range(0, len(simulation.records), 4_000):
            chunk = simulation.records[start : start + 4_000]
            futures = [await producer.send(r.topic, r.value, key=r.key) for r in chunk]
            await asyncio.gather(*futures)
            await asyncio.sleep(0.3)

    procs = {name: start_projector(name, prefix, schemas[name], logs[name]) for name in PROJECTORS}
    log_offset = dict.fromkeys(PROJECTORS, 0)  # where the current instance's log lines begin
    feeding = asyncio.create_task(stream_in())
    conn = await connect(stack)
    applied_at_kill: list[int] = []

    async def applied() -> int:
        total = 0
        for schema in schemas.values():
            if await conn.fetchval("select to_regclass($1)", f'"{schema}"._stats'):
                total += await conn.fetchval(f'select events_applied from "{schema}"._stats')
        return total

    try:
        # The kills are meant to land on work in flight, not on four interpreters starting
        # at once on two cores: begin once the projectors apply.
        for _ in range(600):
            if await applied() > 0:
                break
            await asyncio.sleep(0.1)
        for name in itertools.islice(itertools.cycle(PROJECTORS), KILLS):
            await asyncio.sleep(rng.uniform(0.6, 1.6))
            # On a loaded machine the instances killed before may still be starting: kill
            # again only once the projectors made progress since the last kill (or 30 s).
            for _ in range(300):
                if not applied_at_kill or await applied() > applied_at_kill[-1]:
                    break
                await asyncio.sleep(0.1)
            applied_at_kill.append(await applied())
            procs[name].send_signal(signal.SIGKILL)
            await asyncio.to_thread(procs[name].wait)
            log_offset[name] = logs[name].stat().st_size
            procs[name] = start_projector(name, prefix, schemas[name], logs[name])
        await feeding
        for name, projector in PROJECTORS.items():
            ends = await end_offsets(stack, [prefix + t for t in projector.topics])
            await wait_caught_up(conn, schemas[name], ends, wait_s=240)
        for name, proc in procs.items():
            # SIGTERM only once the instance handles it (it logs projector_starting after).
            while '"projector_starting"' not in logs[name].read_text()[log_offset[name] :]:
                assert proc.poll() is None, f"the last {name} instance died"
                await asyncio.sleep(0.1)
            proc.send_signal(signal.SIGTERM)
        for name, proc in procs.items():
            code = await asyncio.to_thread(proc.wait, 30)
            assert code == 0, f"{name} exited {code}: {logs[name].read_text()[-2000:]}"

        # The kills landed while work was in flight: progress between kills, work left after.
        assert sum(b > a for a, b in itertools.pairwise(applied_at_kill)) >= KILLS // 2, (
            applied_at_kill
        )
        for name, projector in PROJECTORS.items():
            stats = await conn.fetchrow(f'select * from "{schemas[name]}"._stats')
            assert stats["events_applied"] + stats["ignored"] == unique_events_on(
                truth, projector.topics
            ), name
            assert stats["dead_lettered"] == expected_dead_letters(truth, projector.topics), name
            seen = await conn.fetchval(f'select count(*) from "{schemas[name]}"._events')
            assert seen == stats["events_applied"] + stats["ignored"], name
        assert await compare(conn, schemas, truth) == {}
        print(f"events applied (all projectors) at each kill: {applied_at_kill}")
    finally:
        feeding.cancel()
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        await producer.stop()
        await conn.close()
