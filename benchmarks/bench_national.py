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
afterwards (`--keep` keeps them); `--measure TAG` measures (c) and (d) again over the
schemas a `--keep` run left (their read models' new migrations applied first).

    .venv/bin/python -m benchmarks.bench_national                 # 10,000 x 365 days
    .venv/bin/python -m benchmarks.bench_national --national      # 520,000 x 365 days
        [--volunteers N] [--days D] [--concurrency 32] [--seconds 10] [--catch-up-s S]
        [--keep] [--measure TAG]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from benchmarks.national_read import (
    add_read_rows,
    console,
    read_side,
    say,
    verdict,
)
from benchmarks.projector_runs import rss_mb, start_projector_process
from benchmarks.support import ROOT, delete_topics, drop_schemas
from consumers.runtime.bookkeeping import prepare_schema
from infra.db import connect
from infra.settings import Settings, child_env
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import create_prefixed_topics, end_offsets

NATIONAL = 520_000  # registered: ~260,000 active at the calibrated --active-share 0.5
TARGET_RSS_MB = 1024


@dataclass
class Generation:
    """The simulator child as measured."""

    records: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0
    peak_rss_mb: float = 0.0
    returncode: int | None = None
    loads: list[float] = field(default_factory=list)


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


async def measure_kept(settings: Settings, args: argparse.Namespace) -> None:
    """--measure TAG: (c) and (d) again over a run's kept schemas, their migrations applied
    first (a read model projected before a migration gets it as a deployment would)."""
    schemas = {name: f"bench_national_{name}_{args.measure}" for name in PROJECTORS}
    prefix = f"bench.national.{args.measure}."
    # The freshness panel asks Kafka for the topics' ends: a run without --keep (or from
    # before it kept them) deleted them, so they are made again, empty, for the page.
    await create_prefixed_topics(settings, prefix)
    conn = await connect(settings)
    try:
        for name, projector in PROJECTORS.items():
            began = time.perf_counter()
            await prepare_schema(conn, projector, schemas[name])
            say(f"{schemas[name]}: migrations up to date in {time.perf_counter() - began:,.1f} s")
    finally:
        await conn.close()
    try:
        read = await read_side(
            settings, schemas, args, settings.cache_dir / f"national-truth-{args.measure}.json"
        )
    finally:
        if not args.keep:
            await delete_topics(settings, prefix)
    table = Table("part", "measure", "figure", "target", "met",
                  title=f"National benchmark, read side over the kept run {args.measure}")  # fmt: skip
    add_read_rows(table, args, read)
    console.print(table)


async def main(args: argparse.Namespace) -> None:
    settings, tag = Settings(), uuid.uuid4().hex[:8]
    if args.measure:
        await measure_kept(settings, args)
        return
    prefix = f"bench.national.{tag}."
    schemas = {name: f"bench_national_{name}_{tag}" for name in PROJECTORS}
    say(f"{args.volunteers:,} registered volunteers x {args.days} days, topics {prefix}*")
    gen_truth = args.truth = settings.cache_dir / f"national-truth-{tag}.json"
    await create_prefixed_topics(settings, prefix)
    try:
        gen, done, peak, tail, consumed = await generate_and_project(
            settings, args, prefix, schemas
        )
        read = await read_side(settings, schemas, args, gen_truth)
    finally:
        if not args.keep:
            await delete_topics(settings, prefix)
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
    add_read_rows(table, args, read)
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
    parser.add_argument(
        "--keep", action="store_true", help="keep the topics and the projected schemas"
    )
    parser.add_argument("--measure", metavar="TAG",
                        help="only the read side, over the schemas a --keep run TAG kept")  # fmt: skip
    arguments = parser.parse_args()
    if arguments.national:
        arguments.volunteers = NATIONAL
    asyncio.run(main(arguments))
