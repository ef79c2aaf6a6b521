"""Kill the projector process with SIGKILL again and again mid-stream: nothing lost, nothing twice."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.campaigns import PROJECTOR
from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from tests.support.projectors import (
    create_prefixed_topics,
    end_offsets,
    read_participations,
    wait_caught_up,
)
from tests.support.streams import build_stream, publish

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
EVENTS = 100_000
KILLS = 10


def start_projector(prefix: str, schema: str, group: str, log: Path) -> subprocess.Popen[bytes]:
    """`tatawwu projections run campaigns` as its own process, logging to a file."""
    env = {**os.environ, "TATAWWU_LOG_FORMAT": "json", "TATAWWU_LOG_LEVEL": "INFO"}
    cmd = [
        sys.executable, "-m", "infra", "projections", "run", "campaigns",
        "--topic-prefix", prefix, "--schema", schema, "--group-id", group,
        "--instance-id", "chaos-1",
    ]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


async def test_ten_sigkills_during_a_100k_event_stream_lose_and_double_nothing(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """SIGKILL at random moments while 100,000 events stream in; the final model is exact."""
    prefix, schema, group = f"chaos.{unique}.", f"chaos_campaigns_{unique}", f"chaos-{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(EVENTS, seed=2026, volunteers=20_000, opportunities=200)
    rng = random.Random(unique)
    log = tmp_path / "projector.log"
    producer = build_producer(stack)
    await producer.start()

    async def stream_in() -> None:
        chunk = 2_000
        for start in range(0, len(stream.records), chunk):
            await publish(producer, stream, prefix, start, start + chunk)
            await asyncio.sleep(0.25)

    feeding = asyncio.create_task(stream_in())
    proc = start_projector(prefix, schema, group, log)
    kills = 0
    applied_at_kill: list[int] = []
    conn = await connect(stack)
    try:
        while kills < KILLS:
            await asyncio.sleep(rng.uniform(0.8, 2.5))
            if await conn.fetchval("select to_regclass($1)", f'"{schema}"._stats'):
                applied_at_kill.append(
                    await conn.fetchval(f'select events_applied from "{schema}"._stats')
                )
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            kills += 1
            proc = start_projector(prefix, schema, group, log)
        await feeding
        ends = await end_offsets(stack, [prefix + t for t in PROJECTOR.topics])
        await wait_caught_up(conn, schema, ends, wait_s=180)
        # SIGTERM only once the last instance handles it (it logs projector_starting after).
        while log.read_text().count('"projector_starting"') < KILLS + 1:
            assert proc.poll() is None, "the last projector instance died"
            await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(proc.wait, 30)
        tail = [line for line in log.read_text().splitlines() if "dead_lettered" not in line]
        assert code == 0, f"exit {code}: " + "\n".join(tail[-40:])

        stats = await conn.fetchrow(f'select * from "{schema}"._stats')
        assert kills == KILLS
        # The kills landed while work was in flight: progress between kills, work left after.
        progressed = sum(b > a for a, b in itertools.pairwise(applied_at_kill))
        assert progressed >= KILLS // 2, applied_at_kill
        assert sum(n < stream.unique_valid for n in applied_at_kill) >= KILLS // 2, applied_at_kill
        print(f"events applied at each kill: {applied_at_kill}")
        assert stats["events_applied"] == stream.unique_valid
        assert (
            await conn.fetchval(f'select count(*) from "{schema}"._events') == stream.unique_valid
        )
        assert stats["dead_lettered"] == stream.invalid
        assert await read_participations(conn, schema) == stream.participations
    finally:
        feeding.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        await producer.stop()
        await conn.close()
