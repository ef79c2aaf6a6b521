"""Projector throughput, side by side in one run against the local Kafka and PostgreSQL.

  (a) ceilings: raw aiokafka `getmany` of the same records with no processing, and
      raw PostgreSQL `COPY` of as many participation rows;
  (b) naive: a plain FastStream subscriber, one autocommitted upsert per event;
  (c) Tatawwu: each projector as its own process (`tatawwu projections run NAME`);
  (d) freshness: event acknowledged by Kafka -> visible in the campaigns read model,
      p50/p99 at a steady rate (default 2,000 events/s);
  (e) memory: the campaigns projector's RSS as history grows (run as its own process);
  (f) optional --rebuild-events N: `rebuild` of the campaigns model from N events;
  (g) crypto-shredding (--shredding, default on): the volunteers and participation
      projectors on the same stream plus a registration per volunteer, personal fields
      encrypted vs in clear, alternating (`projector_shredding.py`).

    .venv/bin/python -m benchmarks.bench_projectors [--events 200000] [--rebuild-events 1000000]

The parts live in `projector_ceilings.py` ((a), (b)) and `projector_runs.py` ((c)-(e));
this module runs them in order and prints one table. Each run uses its own topic prefix and schemas and drops/deletes them afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid

from rich.console import Console
from rich.table import Table

from benchmarks.projector_ceilings import ceiling_copy, ceiling_getmany, naive
from benchmarks.projector_runs import freshness, memory_profile, projector_rate
from benchmarks.projector_shredding import shredding_rates
from benchmarks.support import delete_topics, drop_schemas
from consumers.rebuild import rebuild
from consumers.runtime import tune_gc
from infra.logging import configure_logging
from infra.settings import Settings
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import create_prefixed_topics
from tests.support.streams import build_stream, publish_stream

console = Console()


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    configure_logging("ERROR", "console")
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench.{tag}."
    await create_prefixed_topics(settings, prefix)
    console.print(f"generating and publishing {args.events:,} events ...")
    stream = build_stream(
        args.events, seed=1, volunteers=max(2000, args.events // 5), opportunities=400
    )
    await publish_stream(settings, stream, prefix, linger_ms=20, max_batch_size=512 * 1024)
    total = len(stream.records)
    tune_gc()  # as `tatawwu projections run` and `rebuild` do once started
    rows: list[tuple[str, str, str]] = []

    class Rows(list):  # print each figure as soon as it is measured
        def append(self, row: tuple[str, str, str]) -> None:
            console.print("  " + " | ".join(row))
            super().append(row)

    rows = Rows()
    schemas = [f"bench_{name}_{tag}" for name in PROJECTORS]
    if args.only_shredding:  # (g) alone: crypto-shredding's cost, encrypted vs clear
        try:
            for row in await shredding_rates(settings, stream, tag):
                rows.append(row)
        finally:
            await delete_topics(settings, prefix)
        return
    try:
        ceiling = await ceiling_getmany(settings, prefix, total)
        rows.append(("ceiling", "aiokafka getmany, no processing", f"{ceiling:,.0f}"))
        rows.append(
            (
                "ceiling",
                "PostgreSQL COPY (participation rows)",
                f"{await ceiling_copy(settings, total):,.0f}",
            )
        )
        naive_rate = await naive(
            settings, prefix, min(total, args.naive_events), f"bench_naive_{tag}"
        )
        rows.append(
            (
                "naive",
                f"FastStream subscriber, upsert per event ({min(total, args.naive_events):,})",
                f"{naive_rate:,.0f}",
            )
        )
        for name, schema in zip(PROJECTORS, schemas, strict=True):
            rate, sustained = await projector_rate(settings, name, prefix, schema)
            rows.append((
                "tatawwu", f"{name}: sustained (from process start)",
                f"{sustained:,.0f} ({rate:,.0f})  {sustained / naive_rate:.0f}x naive",
            ))  # fmt: skip
        if args.shredding:
            for row in await shredding_rates(settings, stream, tag):
                rows.append(row)
        p50, p99, worst = await freshness(settings, args.rate, args.fresh_seconds)
        rows.append(
            (
                "freshness",
                f"ack -> visible at {args.rate:,}/s: p50 / p99 / max ms",
                f"{p50:.0f} / {p99:.0f} / {worst:.0f}",
            )
        )
        mem = []
        if args.memory:
            await create_prefixed_topics(settings, f"mem.{tag}.")
            mem = await memory_profile(settings, f"mem.{tag}.", f"bench_mem_{tag}", stream.records)
        for applied, mb in mem:
            rows.append(("memory", f"campaigns RSS after {applied:,} events", f"{mb:.0f} MB"))
        if args.rebuild_events:
            rb_prefix = f"rb.{tag}."
            await create_prefixed_topics(settings, rb_prefix)
            big = build_stream(
                args.rebuild_events,
                seed=3,
                volunteers=args.rebuild_events // 5,
                opportunities=1000,
                duplicate_share=0,
                invalid_share=0,
            )
            await publish_stream(settings, big, rb_prefix, linger_ms=20, max_batch_size=512 * 1024)
            report = await rebuild(
                settings, PROJECTORS["campaigns"], schema=f"bench_rb_{tag}", topic_prefix=rb_prefix
            )
            rows.append(
                (
                    "rebuild",
                    f"campaigns from {len(big.records):,} events",
                    f"{report.seconds:.1f} s ({len(big.records) / report.seconds:,.0f}/s)",
                )
            )
            await drop_schemas(settings, f"bench_rb_{tag}")
            await delete_topics(settings, rb_prefix)
    finally:
        await drop_schemas(settings, *schemas, f"bench_mem_{tag}")
        await delete_topics(settings, prefix)
        await delete_topics(settings, f"mem.{tag}.")
    table = Table(
        "kind",
        "what",
        "events/s (or as named)",
        title=f"Projectors, {total:,} records (campaign + participation mix, 2% duplicates)",
    )
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--naive-events", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=2_000, help="freshness: events per second")
    parser.add_argument("--fresh-seconds", type=int, default=15)
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--shredding", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--only-shredding", action="store_true", help="run (g) alone")
    parser.add_argument(
        "--rebuild-events", type=int, default=0, help="also time a rebuild from N events"
    )
    asyncio.run(main(parser.parse_args()))
