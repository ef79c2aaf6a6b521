"""`infra.ops`: `/health`, `/ready` and `/metrics` over real HTTP, without a web framework."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from aiokafka import TopicPartition

from consumers.campaigns import PROJECTOR
from consumers.runtime import ProjectorRuntime
from infra.ops import start_ops_server
from infra.settings import Settings


class Switch:
    """A readiness check the test sets: None (ready), a reason, or an error to raise."""

    def __init__(self) -> None:
        self.answer: str | Exception | None = "starting"

    async def __call__(self) -> str | None:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
async def ops() -> AsyncIterator[tuple[httpx.AsyncClient, Switch]]:
    switch = Switch()
    server = await start_ops_server("127.0.0.1", 0, switch)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield client, switch
    finally:
        server.close()
        await server.wait_closed()


async def test_health_is_live_whatever_readiness_says(ops) -> None:
    """/health: 200 `{"status": "ok"}` even while not ready (liveness asks nothing else)."""
    client, _ = ops
    response = await client.get("/health")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})
    assert response.headers["cache-control"] == "no-store"


async def test_ready_is_503_with_the_reason_then_200(ops) -> None:
    """/ready answers the check: 503 with its reason, 200 once it says ready."""
    client, switch = ops
    response = await client.get("/ready")
    assert (response.status_code, response.json()) == (
        503,
        {"status": "unavailable", "reason": "starting"},
    )
    switch.answer = None
    response = await client.get("/ready")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_a_failing_readiness_check_is_a_503_not_a_dropped_connection(ops) -> None:
    client, switch = ops
    switch.answer = RuntimeError("boom")
    response = await client.get("/ready")
    assert response.status_code == 503
    assert response.json()["reason"] == "readiness check failed: RuntimeError"


async def test_metrics_is_the_prometheus_exposition_of_the_process(ops) -> None:
    """/metrics serves the process-wide registry (the projector metrics among it)."""
    import consumers.metrics  # noqa: F401 - registers them

    client, _ = ops
    response = await client.get("/metrics?name[]=x")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE tatawwu_projector_lag_records gauge" in response.text


async def test_other_paths_and_methods_are_refused(ops) -> None:
    """404 for an unknown path, 405 for anything but GET and HEAD, HEAD without a body."""
    client, _ = ops
    assert (await client.get("/nope")).status_code == 404
    assert (await client.post("/health")).status_code == 405
    head = await client.head("/health")
    assert (head.status_code, head.content) == (200, b"")


async def test_a_silent_client_does_not_stop_others_being_answered(ops) -> None:
    """A connection that never sends its request does not hold up the next one."""
    client, _ = ops
    port = client.base_url.port
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        assert (await client.get("/health")).status_code == 200
    finally:
        writer.close()


class FakeConsumer:
    def __init__(self, assigned: set[TopicPartition]) -> None:
        self.assigned = assigned

    def assignment(self) -> set[TopicPartition]:
        return self.assigned


class FakePool:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    async def fetchval(self, sql: str) -> int:
        if self.error is not None:
            raise self.error
        return 1


async def test_a_projector_is_ready_once_assigned_with_its_last_batch_and_postgres_ok() -> None:
    """Not started or no partition: not ready; a failed batch or PostgreSQL away: not ready."""
    runtime = ProjectorRuntime(PROJECTOR, Settings())
    assert await runtime.readiness() == "no partitions assigned"
    runtime._consumer = FakeConsumer(set())
    assert await runtime.readiness() == "no partitions assigned"
    runtime._consumer = FakeConsumer({TopicPartition("tatawwu.campaigns", 0)})
    runtime._pool = FakePool()
    assert await runtime.readiness() is None
    runtime.batch_failure = "PostgresConnectionError"
    assert await runtime.readiness() == "last batch failed: PostgresConnectionError"
    runtime.batch_failure = None
    runtime._pool = FakePool(ConnectionRefusedError())
    assert await runtime.readiness() == "postgres unreachable: ConnectionRefusedError"


def test_the_metrics_host_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """TATAWWU_METRICS_HOST, loopback unless set."""
    monkeypatch.delenv("TATAWWU_METRICS_HOST", raising=False)
    assert Settings().metrics_host == "127.0.0.1"
    monkeypatch.setenv("TATAWWU_METRICS_HOST", "0.0.0.0")
    assert Settings().metrics_host == "0.0.0.0"
