"""A projector's `/health`, `/ready` and `/metrics` over real HTTP, as an orchestrator sees them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from consumers.campaigns import PROJECTOR
from consumers.runtime import ProjectorRuntime
from infra.db import connect
from infra.kafka import build_producer
from infra.ops import start_ops_server
from infra.settings import Settings
from tests.support.projectors import create_prefixed_topics, end_offsets, wait_caught_up
from tests.support.streams import build_stream, publish

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
# Any loopback address but the default: proves TATAWWU_METRICS_HOST is what gets bound.
HOST = "127.0.0.2"


def spawn(cmd: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The process, its output going to `log` (returns at once)."""
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


async def until(client: httpx.AsyncClient, path: str, status: int, wait_s: float) -> httpx.Response:
    """GET `path` until it answers `status` (connection refused meanwhile is waited out)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        with contextlib.suppress(httpx.TransportError):
            response = await client.get(path)
            if response.status_code == status:
                return response
        if asyncio.get_running_loop().time() > deadline:
            msg = f"{path} did not answer {status} within {wait_s}s"
            raise AssertionError(msg)
        await asyncio.sleep(0.1)


async def published_stream(settings: Settings, prefix: str) -> None:
    producer = build_producer(settings)
    await producer.start()
    try:
        await publish(
            producer, build_stream(40, seed=7, duplicate_share=0, invalid_share=0), prefix
        )
    finally:
        await producer.stop()


async def test_a_projector_process_serves_health_ready_and_metrics_on_the_metrics_host(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """`projections run --metrics-port`: live at once, ready once assigned, metrics of its batches."""
    prefix, schema = f"ops.{unique}.", f"ops_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    await published_stream(stack, prefix)
    port = free_port(HOST)
    env = {**os.environ, "TATAWWU_METRICS_HOST": HOST}
    cmd = [sys.executable, "-m", "tatawwu", "projections", "run", "campaigns", "--topic-prefix",
           prefix, "--schema", schema, "--group-id", f"g-{unique}", "--metrics-port", str(port)]  # fmt: skip
    log = tmp_path / "projector.log"
    proc = spawn(cmd, log, env)
    conn = await connect(stack)
    try:
        async with httpx.AsyncClient(base_url=f"http://{HOST}:{port}", timeout=5) as client:
            live = await until(client, "/health", 200, wait_s=30)
            assert live.json() == {"status": "ok"}
            ready = await until(client, "/ready", 200, wait_s=60)
            assert ready.json() == {"status": "ready"}
            ends = await end_offsets(stack, [prefix + t for t in PROJECTOR.topics])
            await wait_caught_up(conn, schema, ends, wait_s=60)
            text = (await client.get("/metrics")).text
        assert 'tatawwu_projector_events_total{outcome="applied",projector="campaigns"}' in text
        assert 'tatawwu_projector_batch_size_records_count{projector="campaigns"}' in text
        assert "tatawwu_projector_lag_records{" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
        await conn.close()
    assert proc.returncode == 0, log.read_text()[-2000:]
    await drop_schema(stack, schema)


async def test_ready_is_503_before_the_assignment_and_when_postgres_is_gone(
    stack: Settings, unique: str
) -> None:
    """Before start: 503 "no partitions assigned"; running: 200; its pool gone: 503 postgres."""
    prefix, schema = f"ops2.{unique}.", f"ops2_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    runtime = ProjectorRuntime(
        PROJECTOR, stack, schema=schema, group_id=f"g-{unique}", topic_prefix=prefix
    )
    server = await start_ops_server("127.0.0.1", 0, runtime.readiness)
    port = server.sockets[0].getsockname()[1]
    task = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            before = await client.get("/ready")
            assert (before.status_code, before.json()) == (
                503,
                {"status": "unavailable", "reason": "no partitions assigned"},
            )
            await runtime.start()
            task = asyncio.create_task(runtime.run())
            await until(client, "/ready", 200, wait_s=60)
            assert runtime._pool is not None
            runtime._pool.terminate()  # PostgreSQL unreachable, as this process sees it
            gone = await client.get("/ready")
            assert gone.status_code == 503
            assert gone.json()["reason"].startswith("postgres unreachable: ")
            assert (await client.get("/health")).status_code == 200
    finally:
        runtime.stopping.set()
        if task is not None:
            await asyncio.wait_for(task, 30)
        await runtime.close()
        server.close()
        await server.wait_closed()
    await drop_schema(stack, schema)


async def drop_schema(settings: Settings, schema: str) -> None:
    conn = await connect(settings)
    try:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()
