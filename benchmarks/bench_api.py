"""Read API throughput and latency: the KPI and the campaign list under fixed concurrency.

Simulates a national stream (default 20,000 volunteers over 90 days), projects it with
the real projectors into `bench_api_*` schemas, serves the API with uvicorn in a child
process (one worker, access log off) and drives it with C asyncio httpx clients for D
seconds per endpoint. Prints requests/s and p50/p99 latency as the clients saw them
(loopback, client and server on the same machine, so the client's CPU counts too).
Also the same KPI request revalidated with If-None-Match (the dashboard's 304 path).

    .venv/bin/python -m benchmarks.bench_api [--volunteers N] [--concurrency C] [--seconds D]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from consumers.runtime import ProjectorRuntime
from infra.db import connect
from infra.settings import Settings, child_env
from producers.simulator import SimConfig, Via, run, simulate
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import end_offsets, wait_caught_up

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_ENV = "TATAWWU_BENCH_API_SCHEMAS"


def make_app():  # type: ignore[no-untyped-def]
    """uvicorn --factory entry: the API over the schemas named in the environment."""
    from consumers.api.app import create_app

    return create_app(
        Settings(), json.loads(os.environ[SCHEMAS_ENV]), create_views=False, tune_collector=True
    )


async def project(settings: Settings, volunteers: int, days: int, tag: str) -> dict[str, str]:
    """Simulate, publish and project; return read model -> schema."""
    prefix = f"bench.api.{tag}."
    until = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    simulation = simulate(SimConfig(seed=1, volunteers=volunteers, days=days, until=until), prefix)
    await run(simulation, via=Via.KAFKA, settings=settings, topic_prefix=prefix)
    schemas = {name: f"bench_api_{name}_{tag}" for name in PROJECTORS}
    runtimes = [
        ProjectorRuntime(
            p, settings, schema=schemas[n], group_id=f"bench-api-{n}-{tag}", topic_prefix=prefix
        )
        for n, p in PROJECTORS.items()
    ]
    for r in runtimes:
        await r.start()
    tasks = [asyncio.create_task(r.run()) for r in runtimes]
    conn = await connect(settings)
    try:
        for r in runtimes:
            ends = await end_offsets(settings, [prefix + t for t in r.projector.topics])
            await wait_caught_up(conn, r.schema, ends, wait_s=600)
    finally:
        for r in runtimes:
            r.stopping.set()
        await asyncio.gather(*tasks)
        for r in runtimes:
            await r.close()
        await conn.close()
    return schemas


def distinct_as_of() -> Callable[[], str]:
    """KPI paths with a new as_of day each time (as_of is a calendar day): no two requests
    within the memo's second share a computation."""
    counter = itertools.count()
    start = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    return lambda: (
        "/v1/kpi/participation?as_of="
        + (start - dt.timedelta(days=next(counter) % 3000)).isoformat()
    )


async def load(
    base: str,
    path: str | Callable[[], str],
    concurrency: int,
    seconds: float,
    headers: dict[str, str],
) -> tuple[int, int, list[float]]:
    """(ok responses, errors, latencies in ms) of C clients looping for D seconds."""
    latencies: list[float] = []
    errors = 0
    # The clients are built before the clock starts: each builds an SSL context (~0.1 s of
    # CPU on a loaded machine) that blocks the loop and inflated the first requests' latency.
    clients = [httpx.AsyncClient(base_url=base, timeout=30) for _ in range(concurrency)]
    deadline = time.perf_counter() + seconds

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            url = path() if callable(path) else path
            response = await http.get(url, headers=headers)
            if response.status_code in (200, 304):
                latencies.append((time.perf_counter() - began) * 1000)
            else:
                errors += 1

    try:
        await asyncio.gather(*(client(http) for http in clients))
    finally:
        for http in clients:
            await http.aclose()
    return len(latencies), errors, latencies


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--port", type=int, default=18280)
    args = parser.parse_args()
    settings, tag = Settings(), uuid.uuid4().hex[:8]
    console = Console(width=130)
    began = time.perf_counter()
    schemas = await project(settings, args.volunteers, args.days, tag)
    console.print(f"projected {args.volunteers:,} volunteers x {args.days} days "
                  f"in {time.perf_counter() - began:.1f} s")  # fmt: skip
    env = child_env(settings) | {SCHEMAS_ENV: json.dumps(schemas), "TATAWWU_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(  # noqa: ASYNC220 - starts the child and returns at once
        [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.bench_api:make_app",
         "--host", "127.0.0.1", "--port", str(args.port), "--log-level", "warning",
         "--no-access-log"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{args.port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(100):
                try:
                    if (await http.get("/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            etag = (await http.get("/v1/kpi/participation")).headers["etag"]
        cases = [
            ("GET /v1/kpi/participation", "/v1/kpi/participation", {}),
            ("GET /v1/kpi/participation (If-None-Match)", "/v1/kpi/participation",
             {"If-None-Match": etag}),
            ("GET /v1/kpi/participation?as_of=<distinct> (computed every time)",
             distinct_as_of(), {}),
            ("GET /v1/campaigns?limit=50&sort=-fill_rate", "/v1/campaigns?limit=50&sort=-fill_rate", {}),
            ("GET /ready (baseline)", "/ready", {}),
        ]  # fmt: skip
        table = Table(
            "endpoint", "requests", "errors", "req/s", "p50 ms", "p99 ms",
            title=f"read API: {args.concurrency} concurrent clients, {args.seconds:.0f} s each, "
            "1 uvicorn worker",
        )  # fmt: skip
        for label, path, headers in cases:
            await load(base, path, 4, 1.0, headers)  # warm-up
            ok, errors, lat = await load(base, path, args.concurrency, args.seconds, headers)
            lat.sort()
            p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
            table.add_row(
                label, f"{ok:,}", str(errors), f"{ok / args.seconds:,.0f}",
                f"{statistics.median(lat):.1f}" if lat else "-", f"{p99:.1f}",
            )  # fmt: skip
        console.print(table)
    finally:
        server.terminate()
        server.wait(timeout=10)
        conn = await connect(settings)
        try:
            for schema in schemas.values():
                await conn.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
