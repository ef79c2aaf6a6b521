"""SIGKILL the router again and again during a stream: every event forwarded exactly once."""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from consumers.dlq import open_letters, read_dead_letters
from consumers.router import router_status
from infra.settings import Settings
from schemas.topics import DEADLETTER
from tests.support.projectors import create_prefixed_topics, delete_topics
from tests.support.router import (
    committed_offsets,
    create_ingress,
    forwarded_topics,
    ingress_stream,
    produce,
    read_all,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]

ORGS = 4
PER_ORG = 5_000  # 20,000 records in all
CHUNK = 500
KILLS = 4


def start_router(prefix: str, log: Path) -> subprocess.Popen[bytes]:
    """`tatawwu router run` as its own process, under this test's prefix."""
    env = {**os.environ, "TATAWWU_LOG_FORMAT": "json", "TATAWWU_LOG_LEVEL": "INFO"}
    cmd = [sys.executable, "-m", "tatawwu", "router", "run", "--topic-prefix", prefix,
           "--instance-id", "kills-1", "--max-records", "2000"]  # fmt: skip
    with log.open("ab") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


async def started(proc: subprocess.Popen[bytes], log: Path, offset: int) -> None:
    """Wait until this instance logged that it runs (its log lines begin at `offset`)."""

    def text() -> str:  # a small local file: reading it does not block the loop for long
        return log.read_text()

    while '"router_started"' not in text()[offset:]:
        assert proc.poll() is None, f"the router died: {text()[-2000:]}"
        await asyncio.sleep(0.05)


async def test_sigkilled_router_forwards_every_event_exactly_once(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """Four partners stream 20,000 records while the router is SIGKILLed four times: a
    read_committed consumer sees every accepted id once, every refused one dead-lettered
    once, and the counts are exact."""
    prefix = f"rk{unique}."
    await create_prefixed_topics(stack, prefix)
    orgs = [f"org{n}-{unique}" for n in range(ORGS)]
    topics = await create_ingress(stack, prefix, orgs)
    stream = ingress_stream(orgs, unique, PER_ORG)
    log = tmp_path / "router.log"
    rng = random.Random(unique)

    async def feed() -> None:
        for start in range(0, PER_ORG, CHUNK):
            await asyncio.gather(*(
                produce(stack, topic, stream.records[org][start : start + CHUNK])
                for org, topic in zip(orgs, topics, strict=True)
            ))  # fmt: skip
            await asyncio.sleep(0.3)

    async def routed() -> int:
        return sum((await committed_offsets(stack, prefix)).values())

    async def progressed(since: int, timeout_s: float = 120.0) -> None:
        """Until this instance committed past `since`, or everything is routed (a quiet
        machine finishes the stream before the later kills: they then hit an idle router)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while (done := await routed()) <= since and done < ORGS * PER_ORG:
            assert asyncio.get_running_loop().time() < deadline, f"no progress past {since}"
            await asyncio.sleep(0.1)

    proc = start_router(prefix, log)
    feeding = asyncio.create_task(feed())
    at_kill: list[int] = []
    try:
        offset = 0
        for _ in range(KILLS):
            await started(proc, log, offset)  # each instance gets to work before it dies
            await progressed(at_kill[-1] if at_kill else 0)  # and commits some (a loaded
            await asyncio.sleep(rng.uniform(0.1, 0.6))  # machine may take seconds)
            at_kill.append(await routed())
            proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(proc.wait)
            offset = log.stat().st_size
            proc = start_router(prefix, log)
        await feeding
        await wait_routed(stack, prefix, topics, 60)
        await started(proc, log, offset)  # (the last kill may have left nothing to do)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        forwarded = await read_all(stack, forwarded_topics(prefix))
        letters, unreadable = await open_letters(
            stack, await read_dead_letters(stack, prefix + DEADLETTER.name)
        )  # payloads sealed
        status = {row["org"]: row for row in await router_status(stack, prefix)}
    finally:
        if proc.poll() is None:
            proc.kill()
        feeding.cancel()
        await delete_topics(stack, prefix)

    assert at_kill[0] < ORGS * PER_ORG, at_kill  # the kills landed mid-stream
    assert sum(b > a for a, b in itertools.pairwise(at_kill)) >= 1, at_kill
    ids = Counter(orjson.loads(r.value)["id"] for r in forwarded)
    accepted = set().union(*stream.accepted.values())
    assert set(ids) == accepted
    assert [i for i, n in ids.items() if n > 1] == []
    assert unreadable == 0
    dead = Counter(orjson.loads(value)["id"] for *_, value, _ in letters)
    assert set(dead) == set().union(*stream.refused.values())
    assert max(dead.values()) == 1
    for org in orgs:
        assert status[org]["accepted"] == len(stream.accepted[org])
        assert status[org]["refused"] == {"source": len(stream.refused[org])}
        assert status[org]["lag"] == 0
