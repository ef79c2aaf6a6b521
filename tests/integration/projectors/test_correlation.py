"""A partner request's correlation id reaches the projector's log line for the batch it applied."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.campaigns import PROJECTOR
from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from tests.support.projectors import create_prefixed_topics, end_offsets, wait_caught_up
from tests.support.streams import build_stream

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def spawn(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The projector as its own process, its JSON log lines going to `log`."""
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


async def test_the_correlation_id_in_kafka_headers_appears_in_the_projector_log(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """Records sent with a correlation_id header are named by it in `batch_applied`."""
    prefix, schema = f"corr.{unique}.", f"corr_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(50, seed=4, duplicate_share=0, invalid_share=0)
    producer = build_producer(stack)
    await producer.start()
    try:
        for topic, key, value in stream.records:
            if key != b"bad":
                await producer.send_and_wait(
                    prefix + topic,
                    value,
                    key=key,
                    headers=[("correlation_id", f"req-{unique}".encode())],
                )
    finally:
        await producer.stop()
    log = tmp_path / "projector.log"
    env = {**os.environ, "TATAWWU_LOG_FORMAT": "json", "TATAWWU_LOG_LEVEL": "INFO"}
    cmd = [sys.executable, "-m", "tatawwu", "projections", "run", "campaigns", "--topic-prefix", prefix,
           "--schema", schema, "--group-id", f"g-{unique}"]  # fmt: skip
    proc = spawn(cmd, log, env)
    conn = await connect(stack)
    try:
        ends = await end_offsets(stack, [prefix + t for t in PROJECTOR.topics])
        await wait_caught_up(conn, schema, ends, wait_s=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
        await conn.close()
    lines = [line for line in log.read_text().splitlines() if '"batch_applied"' in line]
    assert any(f"req-{unique}" in line for line in lines), lines[:3]
