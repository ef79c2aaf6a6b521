"""What the stats counters cost the campaigns and organizations projectors, side by side.

The counters (consumers/campaigns/sql/0002_counters.sql, consumers/organizations/sql/
0004_counters.sql) are kept by statement-level triggers inside each batch's transaction:
PostgreSQL work on every participation upsert, paid so that the stats views stop scanning
every participation per read. Here each projector consumes the same stream (a
`build_stream` of `--events` records, with its organisations) as its own process
(`tatawwu projections run NAME`), into a fresh schema with the triggers ("with") and one
whose triggers were dropped before it started ("without", the views then wrong), in
`--rounds` alternating rounds: sustained events/s, and the ratio of the best of each.
Then the views' read cost on what was projected: each stats view, with and without.

    .venv/bin/python -m benchmarks.bench_counters [--events 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.projector_runs import projector_rate
from benchmarks.support import delete_topics, drop_schemas
from consumers.api.queries import CAMPAIGN_ROWS
from consumers.runtime.bookkeeping import prepare_schema
from infra.db import connect
from infra.logging import configure_logging
from infra.settings import Settings
from tatawwu.manifest import PROJECTORS
from tests.support.events import event
from tests.support.projectors import create_prefixed_topics
from tests.support.stats_scans import SCANS, VIEWS
from tests.support.streams import build_stream, publish_stream

TRIGGERS = {
    "campaigns": ("participations",),
    "organizations": ("participations", "org_campaigns", "organizations"),
}
console = Console(width=120)


async def fresh_schema(settings: Settings, name: str, schema: str, triggers: bool) -> None:
    """The projector's schema, migrated; without its counters' triggers if asked."""
    conn = await connect(settings)
    try:
        await prepare_schema(conn, PROJECTORS[name], schema)
        if not triggers:
            rows = await conn.fetch(
                "select t.tgname, c.relname from pg_trigger t join pg_class c on c.oid = t.tgrelid"
                " join pg_namespace n on n.oid = c.relnamespace"
                " where n.nspname = $1 and not t.tgisinternal",
                schema,
            )
            for row in rows:
                await conn.execute(f'drop trigger "{row[0]}" on "{schema}"."{row[1]}"')
    finally:
        await conn.close()


async def read_ms(settings: Settings, schema: str, sql: str) -> float:
    """Best of three, ms, of reading everything `sql` returns in `schema`."""
    conn = await connect(settings)
    try:
        await conn.execute(f'set search_path to "{schema}"')
        best = float("inf")
        for _ in range(3):
            began = time.perf_counter()
            await conn.fetch(sql)
            best = min(best, (time.perf_counter() - began) * 1000)
        return best
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    settings, tag = Settings(), uuid.uuid4().hex[:8]
    prefix = f"bench.counters.{tag}."
    await create_prefixed_topics(settings, prefix)
    stream = build_stream(args.events, seed=5, volunteers=20_000, opportunities=400)
    # The stream's campaigns are all launched by org-test: registered, it has a sector.
    registered = event("organization.registered", "org-registered", source="partner/org-test",
                       org_id="org-test", name_ar="منظمة", name_en="Test", sector="nonprofit")  # fmt: skip
    stream.records.append(("tatawwu.organizations", b"org-test", orjson.dumps(registered)))
    await publish_stream(settings, stream, prefix)
    rates: dict[tuple[str, bool], list[float]] = {}
    schemas: list[str] = []
    table = Table("projector", "round", "with counters (ev/s)", "without (ev/s)",
                  title=f"Stats counters: {args.events:,} events, alternating")  # fmt: skip
    try:
        for name in TRIGGERS:
            for n in range(args.rounds):
                row = []
                for triggers in (True, False) if n % 2 == 0 else (False, True):
                    schema = f"bench_counters_{name[:4]}_{tag}_{n}_{int(triggers)}"
                    schemas.append(schema)
                    await fresh_schema(settings, name, schema, triggers)
                    _, sustained = await projector_rate(settings, name, prefix, schema)
                    rates.setdefault((name, triggers), []).append(sustained)
                    row.append((triggers, sustained))
                by = dict(row)
                table.add_row(name, str(n + 1), f"{by[True]:,.0f}", f"{by[False]:,.0f}")
            best_with, best_without = max(rates[name, True]), max(rates[name, False])
            table.add_row(name, "best", f"{best_with:,.0f}", f"{best_without:,.0f}",
                          style="bold")  # fmt: skip
            table.add_row(name, "ratio", f"{best_with / best_without:.0%}", "")
            counted = next(s for s in reversed(schemas) if s.endswith("_1"))  # with triggers
            for view in VIEWS[name]:
                _key, scan = SCANS[view]
                read = (CAMPAIGN_ROWS.format(c=f'"{counted}"') if view == "campaign_rows"
                        else f"select * from {view}")  # fmt: skip
                counters = await read_ms(settings, counted, read)
                scanned = await read_ms(settings, counted, scan)
                table.add_row(
                    name, f"read {view}", f"{counters:,.1f} ms", f"scan {scanned:,.1f} ms"
                )
        console.print(table)
    finally:
        await delete_topics(settings, prefix)
        await drop_schemas(settings, *schemas)


if __name__ == "__main__":
    configure_logging("WARNING", "console")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(main(parser.parse_args()))
