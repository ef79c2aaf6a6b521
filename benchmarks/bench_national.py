"""A national year on the local stack: generation, projection, the KPI and the dashboard.

One run, side by side (issue 13, item 6):
(a) the simulator generates a calibrated year (`tatawwu simulate --via kafka` in a child
    process, topics of its own under `bench.national.<id>.`): records, wall and CPU
    seconds, events/s, peak RSS from the kernel's accounting of that child (`os.wait4`);
(b) the four projectors, each its own process (`tatawwu projections run NAME`, as in
    production), consume while the simulator writes, as a running platform would; timed
    until every one has caught up with the whole stream (total, and after the simulator
    finished); their peak RSS sampled from /proc;
(c) the read API over the projected schemas (uvicorn, one worker, as `bench_api`): C
    concurrent clients for D seconds each on `GET /health` (the client-bound ceiling),
    the KPI for today and the KPI for random past days of the year (`?as_of=YYYY-MM-DD`);
(d) the dashboard's first render in headless Chromium (Playwright, Debian's binary, as
    tests/e2e): from navigation until the first refresh has drawn the KPI.
Progress lines every `--every` seconds during (a) and (b). Topics and schemas are deleted
afterwards (`--keep` keeps the schemas).

    .venv/bin/python -m benchmarks.bench_national                 # 10,000 x 365 days
    .venv/bin/python -m benchmarks.bench_national --national      # 520,000 x 365 days
        [--volunteers N] [--days D] [--concurrency 32] [--seconds 10] [--catch-up-s S]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from playwright.async_api import async_playwright
from rich.console import Console
from rich.table import Table

from benchmarks import bench_api
from benchmarks.bench_api import SCHEMAS_ENV, load
from benchmarks.projector_runs import rss_mb, start_projector_process
from benchmarks.support import ROOT, delete_topics, drop_schemas
from infra.db import connect
from infra.logging import configure_logging
from infra.settings import Settings, child_env
from tatawwu.manifest import PROJECTORS
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.support.projectors import create_prefixed_topics, end_offsets

NATIONAL = 520_000  # registered: ~260,000 active at the calibrated --active-share 0.5
TARGET_P99_MS, TARGET_RSS_MB, TARGET_RENDER_MS = 50.0, 1024, 1000.0
console = Console(width=140)


def say(text: str) -> None:
    """A progress line with the wall clock and the machine's load (the cores are shared)."""
    load1 = os.getloadavg()[0]
    console.print(f"[{time.strftime('%H:%M:%S')} load {load1:.1f}] {text}", highlight=False)


@dataclass
class Generation:
    """The simulator child as measured."""

    records: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    returncode: int | None = None
    loads: list[float] = field(default_factory=list)


def make_app():  # type: ignore[no-untyped-def]
    """uvicorn --factory entry: bench_api's app, logging warnings only (not every request)."""
    configure_logging("WARNING", "console")
    return bench_api.make_app()


def simulate_child(
    settings: Settings, args: argparse.Namespace, prefix: str, truth: Path
) -> subprocess.Popen[bytes]:
    """`tatawwu simulate --via kafka` to the run's own topics, to yesterday (nothing future)."""
    until = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    command = [sys.executable, "-m", "tatawwu", "simulate", "--via", "kafka",
               "--volunteers", str(args.volunteers), "--days", str(args.days),
               "--until", until.isoformat(), "--seed", str(args.seed),
               "--topic-prefix", prefix, "--truth", str(truth)]  # fmt: skip
    env = child_env(settings) | {"TATAWWU_LOG_LEVEL": "ERROR"}
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)


async def wait_measured(child: subprocess.Popen[bytes], into: Generation) -> None:
    """Wait for the child in a thread: its peak RSS and CPU from `os.wait4` (this child only)."""
    began = time.perf_counter()
    _pid, status, usage = await asyncio.to_thread(os.wait4, child.pid, 0)
    into.seconds = time.perf_counter() - began
    into.returncode = child.returncode = os.waitstatus_to_exitcode(status)
    into.cpu_s = usage.ru_utime + usage.ru_stime
    into.peak_rss_mb = usage.ru_maxrss / 1024


async def applied(conn, schema: str) -> int:  # type: ignore[no-untyped-def]
    """Records a projector has consumed (its stored offsets), 0 before its tables exist."""
    if not await conn.fetchval("select to_regclass($1)", f'"{schema}"._offsets'):
        return 0
    return int(
        await conn.fetchval(f'select coalesce(sum(next_offset), 0) from "{schema}"._offsets')
    )


async def generate_and_project(
    settings: Settings, args: argparse.Namespace, prefix: str, schemas: dict[str, str]
) -> tuple[Generation, dict[str, float | None], dict[str, float], float, dict[str, int]]:
    """(a) and (b): the simulator writes while the four projectors read.

    Returns the generation, each projector's catch-up seconds (None: not within
    --catch-up-s), their peak RSS, the seconds from the end of generation until the last
    caught up, and each projector's records consumed of its topics' total.
    """
    procs = {
        name: start_projector_process(prefix, schemas[name], f"bench-{schemas[name]}", name)
        for name in PROJECTORS
    }
    generation, peak = Generation(), dict.fromkeys(PROJECTORS, 0.0)
    done: dict[str, float | None] = dict.fromkeys(PROJECTORS)
    began = time.perf_counter()
    child = simulate_child(settings, args, prefix, args.truth)
    waiter = asyncio.create_task(wait_measured(child, generation))
    conn = await connect(settings)
    topics = {n: [prefix + t for t in p.topics] for n, p in PROJECTORS.items()}
    all_topics = sorted({t for ts in topics.values() for t in ts})
    last_say, generated_at, progress = 0.0, None, dict.fromkeys(PROJECTORS, 0)
    totals = dict.fromkeys(PROJECTORS, 0)
    try:
        while True:
            await asyncio.sleep(1.0)
            now = time.perf_counter() - began
            for name, proc in procs.items():
                if proc.poll() is not None:
                    msg = f"projector {name} exited with {proc.returncode}"
                    raise RuntimeError(msg)
                peak[name] = max(peak[name], rss_mb(proc.pid))
            if waiter.done() and generated_at is None:
                waiter.result()
                if generation.returncode != 0:
                    msg = f"simulator exited with {generation.returncode}"
                    raise RuntimeError(msg)
                generated_at = now
                say(f"simulator done: {generation.seconds:,.0f} s, peak RSS "
                    f"{generation.peak_rss_mb:,.0f} MB")  # fmt: skip
            ends = await end_offsets(settings, all_topics)
            for name in PROJECTORS:
                totals[name] = sum(e for tp, e in ends.items() if tp.topic in topics[name])
                progress[name] = await applied(conn, schemas[name])
                if (
                    generated_at is not None
                    and done[name] is None
                    and progress[name] >= totals[name]
                ):
                    done[name] = now
            if generated_at is not None and all(v is not None for v in done.values()):
                break
            if now - last_say >= args.every:
                last_say = now
                written = sum(ends.values())
                each = ", ".join(f"{n} {progress[n] / max(totals[n], 1):.0%}" for n in PROJECTORS)
                rss = rss_mb(child.pid) if not waiter.done() else generation.peak_rss_mb
                say(f"{now:,.0f} s: {written:,} records written (simulator RSS {rss:,.0f} MB); "
                    f"projected: {each}")  # fmt: skip
            if now > args.catch_up_s:
                say(f"catch-up budget of {args.catch_up_s:,.0f} s spent: measuring as it stands")
                break
    finally:
        await conn.close()
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(60)
        if not waiter.done():
            child.terminate()
            await waiter
    generation.records = sum(ends.values())
    tail = max((v for v in done.values() if v is not None), default=now) - (generated_at or now)
    consumed = {n: progress[n] for n in PROJECTORS} | {f"{n} of": totals[n] for n in PROJECTORS}
    return generation, done, peak, tail, consumed


async def serve(settings: Settings, schemas: dict[str, str], port: int) -> subprocess.Popen:
    """The read API over the run's schemas in a child (uvicorn, one worker, as bench_api)."""
    env = child_env(settings) | {SCHEMAS_ENV: json.dumps(schemas), "TATAWWU_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(  # noqa: ASYNC220 - starts the child and returns at once
        [sys.executable, "-m", "uvicorn", "--factory", "benchmarks.bench_national:make_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        for _ in range(600):
            try:
                if (await http.get("/ready")).status_code == 200:
                    return server
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    server.terminate()
    msg = "the read API did not become ready in 60 s"
    raise RuntimeError(msg)


def p99(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else float("nan")


async def kpi_latency(
    base: str, args: argparse.Namespace
) -> dict[str, tuple[float, float, float, int]]:
    """(c): label -> (req/s, p50 ms, p99 ms, errors) for /health, today and past days."""
    today = dt.datetime.now(dt.UTC).date()
    rng = random.Random(args.seed)

    def past() -> str:
        day = today - dt.timedelta(days=rng.randint(1, args.days))
        return f"/v1/kpi/participation?as_of={day}"

    cases = {"GET /health (ceiling)": "/health", "KPI today": "/v1/kpi/participation",
             "KPI random past days": past}  # fmt: skip
    out = {}
    for label, path in cases.items():
        await load(base, path, 4, 1.0, {})  # warm-up
        ok, errors, lat = await load(base, path, args.concurrency, args.seconds, {})
        out[label] = (
            ok / args.seconds,
            statistics.median(lat) if lat else float("nan"),
            p99(lat),
            errors,
        )
        say(
            f"{label}: {ok / args.seconds:,.0f} req/s, p50 {out[label][1]:.1f} ms, p99 {out[label][2]:.1f} ms"
        )
    return out


async def first_render(base: str) -> tuple[float, float]:
    """(d): ms from navigation to the first drawn refresh, in a new browser and then again."""
    times = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for _ in range(2):
                context = await browser.new_context()
                page = await context.new_page()
                began = time.perf_counter()
                await page.goto(f"{base}/")
                await page.wait_for_selector("body[data-refreshes]", timeout=60_000)
                times.append((time.perf_counter() - began) * 1000)
                await context.close()
        finally:
            await browser.close()
    return times[0], times[1]


def verdict(ok: bool) -> str:
    return "yes" if ok else "NO"


async def main(args: argparse.Namespace) -> None:
    settings, tag = Settings(), uuid.uuid4().hex[:8]
    prefix = f"bench.national.{tag}."
    schemas = {name: f"bench_national_{name}_{tag}" for name in PROJECTORS}
    say(f"{args.volunteers:,} registered volunteers x {args.days} days, topics {prefix}*")
    gen_truth = args.truth = settings.cache_dir / f"national-truth-{tag}.json"
    await create_prefixed_topics(settings, prefix)
    server, port = None, args.port or settings.api_port
    try:
        gen, done, peak, tail, consumed = await generate_and_project(
            settings, args, prefix, schemas
        )
        server = await serve(settings, schemas, port)
        base = f"http://127.0.0.1:{port}"
        # No truth file when --catch-up-s stopped the simulator before its end.
        truth = (
            f"{json.loads(gen_truth.read_bytes())['participation']['active']:,}"
            if gen_truth.exists()
            else "none (the simulator was stopped)"
        )
        async with httpx.AsyncClient(base_url=base, timeout=60) as http:
            shown = (await http.get("/v1/kpi/participation")).json()["national"]["active"]
        say(
            f"KPI today: {shown:,} active; the simulator's truth (to the end of yesterday, UTC): {truth}"
        )
        kpi = await kpi_latency(base, args)
        cold, warm = await first_render(base)
        say(f"dashboard first render: {cold:,.0f} ms (then {warm:,.0f} ms)")
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        await delete_topics(settings, prefix)
        if not args.keep:
            await drop_schemas(settings, *schemas.values())
            gen_truth.unlink(missing_ok=True)
    table = Table("part", "measure", "figure", "target", "met",
                  title=f"National benchmark: {args.volunteers:,} registered x {args.days} days")  # fmt: skip
    table.add_row("simulator", "records (to Kafka, acks=all)", f"{gen.records:,}", "", "")
    table.add_row("simulator", "events/s wall / per CPU second",
                  f"{gen.records / gen.seconds:,.0f} / {gen.records / gen.cpu_s:,.0f}", "", "")  # fmt: skip
    table.add_row("simulator", "peak RSS (MB)", f"{gen.peak_rss_mb:,.0f}", f"<= {TARGET_RSS_MB:,}",
                  verdict(gen.peak_rss_mb <= TARGET_RSS_MB))  # fmt: skip
    for name in PROJECTORS:
        when = done[name]
        got = f"{when:,.0f} s" if when is not None else (
            f"not caught up: {consumed[name]:,} of {consumed[name + ' of']:,}")  # fmt: skip
        table.add_row(f"projector {name}", "caught up after (from the start) / peak RSS MB",
                      f"{got} / {peak[name]:,.0f}", "", "")  # fmt: skip
    table.add_row(
        "projectors", "last caught up, after the simulator finished", f"{tail:,.0f} s", "", ""
    )
    table.add_row(
        "KPI", "national active today / the simulator's truth", f"{shown:,} / {truth}", "", ""
    )
    health = kpi["GET /health (ceiling)"][0]
    for label, (rate, p50, p99_ms, errors) in kpi.items():
        kpi_case = label.startswith("KPI")
        ok = p99_ms <= TARGET_P99_MS and rate >= health / 2 and not errors
        table.add_row(
            "read API", f"{label}, {args.concurrency} clients: req/s, p50 / p99 ms, errors",
            f"{rate:,.0f}, {p50:.1f} / {p99_ms:.1f}, {errors}",
            f"p99 <= {TARGET_P99_MS:.0f}, >= {health / 2:,.0f} req/s" if kpi_case else "",
            verdict(ok) if kpi_case else "",
        )  # fmt: skip
    table.add_row("dashboard", "first render in Chromium (new browser) / again (ms)",
                  f"{cold:,.0f} / {warm:,.0f}", f"<= {TARGET_RENDER_MS:,.0f}",
                  verdict(cold <= TARGET_RENDER_MS))  # fmt: skip
    console.print(table)
    say("done")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=10_000, help="registered volunteers")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--national", action="store_true",
                        help=f"the national year: {NATIONAL:,} registered volunteers")  # fmt: skip
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=10.0, help="per read-API case")
    parser.add_argument("--port", type=int, help="the read API's (default: TATAWWU_API_PORT's)")
    parser.add_argument("--every", type=float, default=30.0, help="seconds between progress lines")
    parser.add_argument("--catch-up-s", type=float, default=6 * 3600.0,
                        help="stop waiting for the projectors after this many seconds")  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the projected schemas")
    arguments = parser.parse_args()
    if arguments.national:
        arguments.volunteers = NATIONAL
    asyncio.run(main(arguments))
