"""Writing an opportunity alert to the ledger for N volunteers, side by side in one run.

Against the local PostgreSQL, in a throw-away schema with the notifier's migrations and
N opted-in volunteers in one municipality (COPY):

  (a) baseline: one round trip per volunteer (claim the day, write the ledger row), the
      row-at-a-time way, on a sample of the volunteers and scaled per volunteer;
  (b) Tatawwu: `alerts.ALERT_SQL`, one statement for every matching volunteer (claims
      the day, writes the ledger rows with ids computed in SQL);
  (c) the same statement for a second opportunity the same day: every volunteer's alert
      is taken, so all of them go to the next day's digest (its upsert path).

    .venv/bin/python -m benchmarks.bench_alerts_enqueue [--volunteers 100000] [--sample 5000]

Prints a table (rows a second, and the ratio to the baseline). Sending is measured by
`bench_notifier.py`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
import uuid

from rich.console import Console
from rich.table import Table

from consumers.notifications.alerts import ALERT_SQL
from consumers.notifications.projector import build_projector
from consumers.notifications.rules import notification_id
from infra.db import connect
from infra.migrations import apply
from infra.settings import Settings

console = Console()
DAY = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
BASELINE = (
    "with claimed as (insert into alert_days (volunteer_id, day, opportunity_ids,"
    " notification_id) values ($1, $2, array[$3::text], $4) on conflict do nothing"
    " returning notification_id)"
    " insert into outbox (notification_id, cause_event_id, template, channel, volunteer_id,"
    " cause_time, context) select notification_id, $5, 'opportunity_alert', 'sms', $1, $6,"
    " jsonb_build_object('opportunity_id', $3::text) from claimed"
)


async def run(volunteers: int, sample: int) -> None:
    settings = Settings()
    conn = await connect(settings)
    schema = f"bench_alerts_{uuid.uuid4().hex[:8]}"
    await conn.execute(f'create schema "{schema}"; set search_path to "{schema}"')
    try:
        await apply(conn, *build_projector(settings).migrations)
        ids = [f"v-{n}" for n in range(volunteers)]
        consent = {"sms": True, "email": True, "alerts": True}
        await conn.execute(
            "insert into contacts (volunteer_id, phone, language, consent, status, municipality,"
            " birth_year, alerts_on) select 'v-' || n, '+97450000000', 'en', $1::jsonb,"
            " 'registered', 'doha', 1990, tstzmultirange(tstzrange(now() - interval '1 day',"
            " null)) from generate_series(0, $2 - 1) as n",
            consent,
            volunteers,
        )
        await conn.execute("analyze contacts")
        table = Table(title=f"Alert to {volunteers:,} volunteers: ledger writes")
        for column in ("path", "volunteers", "seconds", "per second", "vs baseline"):
            table.add_column(column, justify="right" if column != "path" else "left")

        started = time.perf_counter()
        async with conn.transaction():
            for volunteer_id in ids[:sample]:
                key = notification_id(f"alert {volunteer_id} {DAY}", "opportunity_alert", "sms")
                await conn.execute(BASELINE, volunteer_id, DAY, "opp-base", key, "e-0", NOW)
        base_s = time.perf_counter() - started
        base_rate = sample / base_s
        table.add_row("(a) one round trip each", f"{sample:,}", f"{base_s:.2f}",
                      f"{base_rate:,.0f}", "1.0x")  # fmt: skip
        await conn.execute("truncate alert_days, outbox")

        for label, opportunity in (("(b) set-based, today", "opp-1"),
                                   ("(c) set-based, digest", "opp-2")):  # fmt: skip
            started = time.perf_counter()
            async with conn.transaction():
                row = await conn.fetchrow(
                    ALERT_SQL, opportunity, "doha", 2010, DAY, f"e-{opportunity}", NOW, None,
                    NOW, NOW + dt.timedelta(days=1), NOW, None,
                )  # fmt: skip
            seconds = time.perf_counter() - started
            done = row["today"] + row["digest"]
            assert done == volunteers, (label, dict(row))
            rate = done / seconds
            table.add_row(label, f"{done:,}", f"{seconds:.2f}", f"{rate:,.0f}",
                          f"{rate / base_rate:.1f}x")  # fmt: skip
        rows = await conn.fetchval("select count(*) from outbox")
        console.print(table)
        console.print(f"ledger rows: {rows:,} (one alert and one digest per volunteer)")
    finally:
        await conn.execute(f'drop schema "{schema}" cascade')
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=5_000)
    args = parser.parse_args()
    asyncio.run(run(args.volunteers, args.sample))


if __name__ == "__main__":
    main()
