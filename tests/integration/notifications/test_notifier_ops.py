"""The notifier's `/health`, `/ready` and `/metrics` over real HTTP: what it sent, by channel."""

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
from prometheus_client.parser import text_string_to_metric_families

from consumers.notifications.service import serve
from infra.db import connect
from infra.settings import Settings
from tests.integration.notifications.conftest import settled
from tests.integration.notifications.world import publish_events, registered
from tests.support.projectors import create_prefixed_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def spawn(cmd: list[str], log: Path, env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """The process, its output going to `log` (returns at once)."""
    with log.open("wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def samples(text: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """The samples called `name` in an exposition, keyed by their sorted labels."""
    return {
        tuple(sorted(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == name
    }


async def test_the_notifier_is_ready_and_counts_what_it_sent_by_channel(
    notifier_settings: Settings, unique: str
) -> None:
    """/health at once, /ready once its projector is assigned and the sender loops, /metrics
    with messages sent by channel, send seconds, the backlog and its projector's counters."""
    prefix, schema = f"ntfops.{unique}.", f"ntfops_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    await publish_events(notifier_settings, prefix, [registered("v-1"), registered("v-2")])
    port = free_port()
    stopping = asyncio.Event()
    task = asyncio.create_task(serve(
        notifier_settings, schema=schema, group_id=f"g-{schema}", topic_prefix=prefix,
        stopping=stopping, handle_signals=False, metrics_port=port,
    ))  # fmt: skip
    conn = await connect(notifier_settings)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = asyncio.get_running_loop().time() + 60
            ready = None
            while asyncio.get_running_loop().time() < deadline and not task.done():
                with contextlib.suppress(httpx.TransportError):
                    ready = await client.get("/ready")
                    if ready.status_code == 200:
                        break
                    assert ready.json()["status"] == "unavailable"  # with a reason until then
                await asyncio.sleep(0.1)
            assert ready is not None
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            assert (await client.get("/health")).json() == {"status": "ok"}
            await settled(conn, schema, expected=4, task=task)  # welcome: email and SMS, each
            text = (await client.get("/metrics")).text
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=30)
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()
    sent = samples(text, "tatawwu_notifier_messages_total")
    for channel in ("email", "sms"):
        key = (("channel", channel), ("outcome", "sent"), ("template", "welcome"))
        assert sent[key] >= 2
        assert samples(text, "tatawwu_notifier_send_seconds_count")[(("channel", channel),)] >= 2
        assert (("channel", channel),) in samples(text, "tatawwu_notifier_backlog_messages")
        pending = samples(text, "tatawwu_notifier_pending_messages")
        assert (("channel", channel), ("due_age", "1h_plus")) in pending
    applied = samples(text, "tatawwu_projector_events_total")
    assert applied[(("outcome", "applied"), ("projector", "notifications"))] >= 2
    assert samples(text, "tatawwu_notifier_sender_loop_timestamp_seconds")[()] > 0
    with pytest.raises(httpx.TransportError):  # stopped with the notifier
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            await client.get("/health")


async def test_notifications_run_serves_them_on_its_metrics_port(
    notifier_settings: Settings, unique: str, tmp_path: Path
) -> None:
    """`tatawwu notifications run --metrics-port P` (as the supervisor starts it): ready on P."""
    prefix, schema = f"ntfops2.{unique}.", f"ntfops2_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    port = free_port()
    cmd = [sys.executable, "-m", "tatawwu", "notifications", "run", "--topic-prefix", prefix,
           "--schema", schema, "--group-id", f"g-{schema}", "--metrics-port", str(port)]  # fmt: skip
    log = tmp_path / "notifier.log"
    proc = spawn(cmd, log, os.environ)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            deadline = asyncio.get_running_loop().time() + 60
            status = None
            while status != 200 and asyncio.get_running_loop().time() < deadline:
                assert proc.poll() is None, log.read_text()[-2000:]
                with contextlib.suppress(httpx.TransportError):
                    status = (await client.get("/ready")).status_code
                await asyncio.sleep(0.2)
            assert status == 200, log.read_text()[-2000:]
            assert "tatawwu_notifier_backlog_messages{" in (await client.get("/metrics")).text
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 30)
        conn = await connect(notifier_settings)
        try:
            await conn.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            await conn.close()
    assert proc.returncode == 0, log.read_text()[-2000:]
