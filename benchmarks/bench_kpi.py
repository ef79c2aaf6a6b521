"""The KPI as a projection: its latency against the scan's, and what it costs the projector.

(a) KPI latency, side by side in one run: a large participation world written straight
    into a schema (default 60,000 volunteers with 400,000 attended pairs over two years,
    plus 200,000 sign-ups that never attended), the projection built from it by the
    start-up backfill (timed), then for R random past days (and yesterday) the document
    and cross-tabulation the API computes, by the scan (`scan.py`, what the API did) and
    by the projection (`lookup.py`): p50 / p99 / max ms, in-process over asyncpg, no HTTP.
    Every day's answers are compared: they must be equal.
(b) the participation projector's throughput with and without the KPI maintenance: the
    simulator's stream (default 30,000 volunteers over 365 days) published once, then
    projected by the real runtime in-process into two schemas, one after the other.

    .venv/bin/python -m benchmarks.bench_kpi [--volunteers 60000] [--pairs 400000]
        [--days 10] [--sim-volunteers 30000] [--sim-days 365] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from benchmarks.support import delete_topics, drop_schemas
from consumers.participation import PROJECTOR, lookup, scan
from consumers.participation.coverage import ZONE, end_of
from consumers.participation.maintain import backfill
from consumers.participation.projector import DEMOGRAPHIC, load_population
from consumers.parts import participations, read_model, refold
from consumers.runtime import ProjectorRuntime, prepare_schema, tune_gc
from infra.db import connect
from infra.logging import configure_logging
from infra.settings import Settings
from producers.simulator import SimConfig, Via, run, simulate
from tests.support.projectors import create_prefixed_topics, end_offsets, wait_caught_up

console = Console()
# The read model without the projection: the same tables, nothing kept in them.
PLAIN = read_model(
    "participation",
    refold(DEMOGRAPHIC),
    participations(),
    sql=PROJECTOR.migrations[-1].directory,
    prepare=load_population,
)
MUNICIPALITIES = ("doha", "al_rayyan", "al_wakrah", "umm_salal", "al_khor", "al_daayen",
                  "al_shamal", "al_shahaniya")  # fmt: skip
PROFILES = """
insert into volunteer_profiles
select 'vol-' || i, 1950 + floor(random() * 60)::int,
       (array['female', 'male'])[1 + floor(random() * 2)::int],
       (array['qatari', 'resident'])[1 + floor(random() * 2)::int],
       ($2::text[])[1 + floor(random() * 8)::int]
from generate_series(1, $1) as i
"""
# Attended pairs: check-in only, verified hours only, or both; then sign-ups never attended.
PAIRS = """
insert into participations (volunteer_id, opportunity_id, campaign_id, checked_in_at, hours,
                            hours_time, hours_event, first_verified_at)
select volunteer_id, 'opp-' || j, 'cmp-1', case when kind < 0.8 then at end,
       case when kind > 0.4 then round((1 + random() * 7)::numeric, 2) end,
       case when kind > 0.4 then at + interval '1 day' end,
       case when kind > 0.4 then 'h-' || j end,
       case when kind > 0.4 then at + interval '1 day' end
from (select 'vol-' || (1 + floor(power(random(), 1.5) * $1))::int as volunteer_id, j,
             random() as kind, $3::timestamptz - random() * interval '730 days' as at
      from generate_series(1, $2) as j) as drawn
on conflict do nothing
"""
SIGNUPS = """
insert into participations (volunteer_id, opportunity_id, campaign_id, signup_status)
select 'vol-' || (1 + floor(random() * $1))::int, 'signup-' || j, 'cmp-1', 'signed_up'
from generate_series(1, $2) as j on conflict do nothing
"""


def figures(samples: list[float]) -> str:
    """p50 / p99 / max in ms."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):,.1f} / {p99:,.1f} / {ordered[-1]:,.1f}"


async def timed(
    conn: asyncpg.Connection, schema: str, work: Callable[[], Awaitable[Any]]
) -> tuple[float, Any]:
    """One computation in the API's kind of transaction: (ms, its result)."""
    began = time.perf_counter()
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(f'set local search_path to "{schema}"')
        result = await work()
    return 1000 * (time.perf_counter() - began), result


async def latency(
    settings: Settings, args: argparse.Namespace, rows: list[tuple[str, str, str]]
) -> None:
    """(a): the large world, the backfill, then scan and lookup per day."""
    schema = f"bench_kpi_{uuid.uuid4().hex[:8]}"
    conn = await connect(settings)
    try:
        await prepare_schema(conn, PLAIN, schema)
        await conn.execute(f'set search_path to "{schema}"')
        now = dt.datetime.now(dt.UTC)
        console.print(f"writing {args.volunteers:,} volunteers, {args.pairs:,} attended pairs ...")
        await conn.execute("select setseed(0.42)")
        await conn.execute(PROFILES, args.volunteers, list(MUNICIPALITIES))
        await conn.execute(PAIRS, args.volunteers, args.pairs, now)
        await conn.execute(SIGNUPS, args.volunteers, args.pairs // 3)
        await conn.execute("analyze")
        attended = await conn.fetchval("select count(*) from activity")
        began = time.perf_counter()
        built = await backfill(conn)
        await conn.execute("analyze")
        rows.append(("projection", f"backfill: {built:,} volunteers, {attended:,} attended pairs",
                     f"{time.perf_counter() - began:,.1f} s"))  # fmt: skip
        await conn.execute("reset search_path")
        today = now.astimezone(ZONE).date()
        rng = random.Random(1)
        days = [today - dt.timedelta(days=1)] + [
            today - dt.timedelta(days=rng.randint(2, 540)) for _ in range(args.days - 1)
        ]
        scans, lookups, equal = [], [], 0
        for n, day in enumerate(days):

            async def by_scan(day: dt.date = day) -> Any:
                until = end_of(day)
                return await scan.participation_kpi(conn, until), await scan.cross_tab(conn, until)

            async def by_lookup(day: dt.date = day) -> Any:
                found = await lookup.cells(conn, day)
                doc = await lookup.participation_kpi(conn, day, found=found)
                return doc, await lookup.cross_tab(conn, day, found)

            ms_scan, expected = await timed(conn, schema, by_scan)
            ms_lookup, actual = await timed(conn, schema, by_lookup)
            scans.append(ms_scan)
            lookups.append(ms_lookup)
            key = lambda r: sorted(map(str, r.items()))  # noqa: E731
            same = expected[0] == actual[0] and all(
                sorted(expected[1][k], key=key) == sorted(actual[1][k], key=key)
                for k in ("cells", "monthly")
            )
            equal += same
            console.print(
                f"  {n + 1}/{len(days)} {day}: scan {ms_scan:,.0f} ms, projection {ms_lookup:,.1f} ms, equal {same}"
            )
        active = expected[0]["national"]["active"]
        rows.append(
            (
                "KPI, scan",
                f"{len(days)} days, document + cross-tab: p50 / p99 / max ms",
                figures(scans),
            )
        )
        rows.append(
            (
                "KPI, projection",
                "the same days, the same answers: p50 / p99 / max ms",
                figures(lookups),
            )
        )
        rows.append(("KPI", f"ratio of medians (scan / projection); answers equal on {equal}/{len(days)} days; "
                     f"last day {active:,} active", f"{statistics.median(scans) / statistics.median(lookups):,.0f}x"))  # fmt: skip
    finally:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()


async def project_once(
    settings: Settings, projector: Any, prefix: str, schema: str, ends: dict[Any, int]
) -> float:
    """Seconds for one projector, in-process, to apply everything up to `ends`."""
    runtime = ProjectorRuntime(projector, settings, schema=schema, group_id=f"bench-{schema}",
                               topic_prefix=prefix)  # fmt: skip
    await runtime.start()
    began = time.perf_counter()
    task = asyncio.create_task(runtime.run())
    conn = await connect(settings)
    try:
        await wait_caught_up(conn, schema, ends, wait_s=1800)
    finally:
        await conn.close()
        runtime.stopping.set()
        await task
        await runtime.close()
    return time.perf_counter() - began


async def projector_cost(
    settings: Settings, args: argparse.Namespace, rows: list[tuple[str, str, str]]
) -> None:
    """(b): one simulated stream, projected with and without the KPI maintenance."""
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench.kpi.{tag}."
    await create_prefixed_topics(settings, prefix)
    until = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    config = SimConfig(seed=1, volunteers=args.sim_volunteers, days=args.sim_days, until=until)
    console.print(f"simulating {args.sim_volunteers:,} volunteers over {args.sim_days} days ...")
    await run(
        simulate(config, topic_prefix=prefix), via=Via.KAFKA, settings=settings, topic_prefix=prefix
    )
    ends = await end_offsets(settings, [prefix + t for t in PROJECTOR.topics])
    records = sum(ends.values())
    variants = {"without the KPI projection": PLAIN, "with the KPI projection": PROJECTOR}
    rates: dict[str, list[float]] = {label: [] for label in variants}
    schemas = []
    try:
        for n in range(args.rounds):  # alternate the order: the machine's load drifts
            for label in sorted(variants, reverse=n % 2 == 1):
                schema = (
                    f"bench_kpi_{n}_{'kept' if variants[label] is PROJECTOR else 'plain'}_{tag}"
                )
                schemas.append(schema)
                seconds = await project_once(settings, variants[label], prefix, schema, ends)
                rates[label].append(records / seconds)
                console.print(
                    f"  round {n + 1}, {label}: {records / seconds:,.0f} events/s ({seconds:,.1f} s)"
                )
        for label, got in rates.items():
            each = ", ".join(f"{r:,.0f}" for r in got)
            rows.append(("participation projector", f"{label}: {records:,} records, {args.rounds} runs",
                         f"median {statistics.median(got):,.0f} events/s ({each})"))  # fmt: skip
        plain, kept = (statistics.median(got) for got in rates.values())
        rows.append(
            (
                "participation projector",
                "cost of the KPI maintenance (medians)",
                f"{1 - kept / plain:.0%} slower",
            )
        )
    finally:
        await drop_schemas(settings, *schemas)
        await delete_topics(settings, prefix)


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    configure_logging("ERROR", "console")
    tune_gc()
    rows: list[tuple[str, str, str]] = []
    if args.latency:
        await latency(settings, args, rows)
    if args.projector:
        await projector_cost(settings, args, rows)
    table = Table("kind", "what", "figure", title="The KPI as a projection")
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=60_000)
    parser.add_argument("--pairs", type=int, default=400_000, help="attended pairs written")
    parser.add_argument("--days", type=int, default=10, help="days whose KPI is timed")
    parser.add_argument("--sim-volunteers", type=int, default=30_000)
    parser.add_argument("--sim-days", type=int, default=365)
    parser.add_argument("--rounds", type=int, default=2, help="projector runs of each kind")
    parser.add_argument("--latency", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--projector", action=argparse.BooleanOptionalAction, default=True)
    asyncio.run(main(parser.parse_args()))
