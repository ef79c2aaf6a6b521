"""Notifier throughput, side by side in one run, against the local Kafka, PostgreSQL and sinks.

  (a) the sinks' ceiling, measured directly (no ledger): raw aiosmtplib over pooled
      connections (as many as the notifier keeps), raw batches to the SMS sink's batch
      endpoint (100 a request, 4 requests at a time), and both at once for the notifier's
      mix (half email, half SMS) -- the figure the notifier is held against; for
      reference, the old way too (a connection per email, a request per SMS, 10 at a time);
  (b) in `--rounds` alternating rounds (the machine's load changes by the minute; the best
      of each is the least disturbed): the mix's ceiling again, then the notifier before (the tree at `--baseline-rev`, main before this work: a claim
      of 50 waits for its slowest send, a connection or request per message) and after
      (this tree), each `tatawwu notifications run` in its own process, on the same due
      messages: `--messages` ledger rows (half email, half SMS, one per volunteer)
      inserted set-based once the notifier is up and has sent one message (so the clock
      times sending, not joining a group and opening connections); timed from the insert
      until every row is sent and its `notification.sent` published. Reported: best
      against best, and each round's after against that round's ceiling (their median);
  (c) the 100,000-volunteer alert: as (b), after only, `--broadcast` ledger rows as
      `alerts.ALERT_SQL` writes them for one published opportunity (`opportunity_alert`,
      SMS: alerts go by SMS only; volunteers opted in to alerts, the opportunity known),
      timed from the insert until every alert is sent and reported. Writing those rows
      is measured by `bench_alerts_enqueue.py` (one statement, seconds for 100,000);
  (d) with `--broadcast-mix N`: N rows of the (b) kind (half email, half SMS), after only,
      the harder case the sinks' SMTP side bounds.

The sinks run as their own process (`python -m infra.local.sinks`), as with `tatawwu
platform run`; each notifier logs as in production (INFO, JSON, to a file).

    .venv/bin/python -m benchmarks.bench_notifier [--messages 4000] [--broadcast 100000]
        [--broadcast-mix 0]

Uses its own topic prefixes, schemas and sink directory; removes them afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.notifier_ceiling import SinkProcess, ceilings, mix_ceiling
from infra.db import connect
from infra.settings import Settings
from tests.support.projectors import create_prefixed_topics

ROOT = Path(__file__).resolve().parent.parent
BASELINE_REV = "19903a1"  # main before the broadcast work (issue 14, items 5 and 6)
console = Console()

CONTACTS = """
insert into contacts (volunteer_id, given_name, phone, email, language, consent, status)
select 'bv-' || g, case when g % 3 = 0 then 'Sara' else 'مريم' end,
       '+9745' || lpad(g::text, 7, '0'), 'bv-' || g || '@example.org',
       case when g % 3 = 0 then 'en' else 'ar' end, '{"sms": true, "email": true, "alerts": true}',
       'registered'
from generate_series(1, $1) g
"""
OPPORTUNITY = """
insert into opportunities (opportunity_id, title_ar, title_en, starts_at, status)
values ('bench-opportunity', 'تنظيف شاطئ الوكرة', 'Al Wakrah beach clean-up',
        now() + interval '3 days', 'published')
"""
ALERTS = """
insert into outbox (notification_id, cause_event_id, template, channel, volunteer_id,
                    cause_time, context, next_attempt_at)
select 'ntf-alert-' || $2 || '-' || g, 'bench-published', 'opportunity_alert', 'sms', 'bv-' || g, now(),
       jsonb_build_object('opportunity_id', 'bench-opportunity', 'count', 1), now()
from generate_series(1, $1) g
"""
DUE = """
insert into outbox (notification_id, cause_event_id, template, channel, volunteer_id,
                    cause_time, next_attempt_at)
select 'ntf-bench-' || $2 || '-' || g, 'bench-' || g, 'welcome',
       case when g % 2 = 0 then 'email' else 'sms' end, 'bv-' || g, now(), now()
from generate_series(1, $1) g
"""

WARM = """
insert into outbox (notification_id, cause_event_id, template, channel, volunteer_id,
                    cause_time, next_attempt_at)
values ($1, $1, 'welcome', 'email', $2, now(), now())
"""


def archive(rev: str, into: Path) -> Path:
    """The tree at `rev` (git archive), to run the notifier as it was."""
    into.mkdir(parents=True)
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar.stdout, check=True)
    return into


async def deliver(settings: Settings, sinks: SinkProcess, tree: Path, rows: int,
                  logs: Path, *, alert: bool = False) -> float:  # fmt: skip
    """Seconds for the notifier of `tree`, in its own process, to send and report `rows`
    (`alert`: one opportunity's alerts, SMS; else the welcome, half email, half SMS)."""
    tag = uuid.uuid4().hex[:8]
    prefix, schema = f"benchntf.{tag}.", f"bench_ntf_{tag}"
    await create_prefixed_topics(settings, prefix)
    env = {**os.environ, "TATAWWU_SMTP_URL": sinks.smtp_url, "TATAWWU_SMS_URL": sinks.sms_url,
           "TATAWWU_NOTIFY_QUIET_HOURS": "", "TATAWWU_LOG_LEVEL": "INFO",
           "TATAWWU_LOG_FORMAT": "json", "TATAWWU_CACHE_DIR": str(settings.cache_dir),
           "PYTHONPATH": str(tree)}  # fmt: skip
    cmd = [sys.executable, "-m", "tatawwu", "notifications", "run", "--topic-prefix", prefix,
           "--schema", schema, "--group-id", f"g-{schema}"]  # fmt: skip
    conn = await connect(settings)
    with logs.open("ab") as out:  # starts the child and returns at once
        proc = subprocess.Popen(cmd, cwd=tree, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: ASYNC220
    try:
        while not await conn.fetchval("select to_regclass($1)", f'"{schema}".outbox'):
            if proc.poll() is not None:
                msg = f"the notifier of {tree} exited: see {logs}"
                raise RuntimeError(msg)
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # its migrations are committed before its table is seen
        await conn.execute(f'set search_path to "{schema}"')
        await conn.execute(CONTACTS, rows + 1)
        if alert:
            await conn.execute(OPPORTUNITY)
        # One message first, sent and reported before the clock starts: the notifier has
        # joined its group, opened a connection to each provider and to Kafka, so the
        # time is the sending, not the start-up (which varies by seconds run to run).
        await conn.execute(WARM, f"ntf-warm-{tag}", f"bv-{rows + 1}")
        await until_settled(conn, proc, tree, logs, 0.05)
        began = time.perf_counter()
        # ids (idempotency keys) of this run only: the sinks would drop another run's
        await conn.execute(ALERTS if alert else DUE, rows, tag)
        await until_settled(conn, proc, tree, logs, 0.1 if rows < 10_000 else 0.5)
        took = time.perf_counter() - began
        sent = await conn.fetchval("select count(*) from outbox where status = 'sent'") - 1
        if sent != rows:
            msg = f"{sent} of {rows} sent by the notifier of {tree}: see {logs}"
            raise RuntimeError(msg)
        return took
    finally:
        proc.terminate()
        await asyncio.to_thread(proc.wait, 60)
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()


async def until_settled(conn: Any, proc: subprocess.Popen[bytes], tree: Path, logs: Path,
                        poll_s: float) -> None:  # fmt: skip
    """Until every ledger row is finished and its outcome published."""
    while await conn.fetchval(
        "select (select count(*) from outbox where status in ('pending', 'sending'))"
        " + (select count(*) from outbox where not reported"
        " and status in ('sent', 'failed', 'suppressed'))"
    ):
        if proc.poll() is not None:
            msg = f"the notifier of {tree} exited: see {logs}"
            raise RuntimeError(msg)
        await asyncio.sleep(poll_s)


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def target(figure: Callable[[str, str, str], None], rows: int, took: float) -> None:
    at_rate = 100_000 / (rows / took)  # the target is 100,000 in 10 min
    figure("ratio", "100,000 at this rate / the 10-minute target",
           f"{at_rate / 600:.0%} ({at_rate / 60:.1f} min)")  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    directory = Path(tempfile.mkdtemp(prefix="bench-notifier-"))
    sinks = SinkProcess(directory / "sinks")
    settings = Settings()
    rows: list[tuple[str, str, str]] = []

    def figure(kind: str, what: str, value: str) -> None:  # shown at once: runs are long
        rows.append((kind, what, value))
        console.print(f"{kind:>9}  {what}: [bold]{value}[/bold]")

    try:
        await sinks.ready()
        ceiling = await ceilings(sinks, args.messages, settings.notify_smtp_connections)
        for what, rate in ceiling.items():
            figure("ceiling", what, f"{rate:,.0f} /s, {load()}")
        before_tree = archive(args.baseline_rev, directory / "baseline")
        logs = directory / "notifier.log"
        best = {"mix": 0.0, "before": 0.0, "after": 0.0}
        ratios: list[float] = []  # after / ceiling of the same round
        for round_ in range(1, args.rounds + 1):  # alternating: the load changes by the minute
            rates = {
                "mix": await mix_ceiling(sinks, args.messages, settings.notify_smtp_connections,
                                         f"r{round_}"),
                "before": args.messages / await deliver(settings, sinks, before_tree,
                                                        args.messages, logs),
                "after": args.messages / await deliver(settings, sinks, ROOT, args.messages, logs),
            }  # fmt: skip
            figure("round", f"{round_}: ceiling for the mix / before / after ({args.messages:,})",
                   " / ".join(f"{r:,.0f}" for r in rates.values()) + f" /s, {load()}")  # fmt: skip
            best = {k: max(best[k], rates[k]) for k in best}
            ratios.append(rates["after"] / rates["mix"])
        mix, before, after = best["mix"], best["before"], best["after"]
        figure("ceiling", f"both at once, half email, half SMS, best of {args.rounds}",
               f"{mix:,.0f} /s")  # fmt: skip
        figure("before", f"notifier at {args.baseline_rev} ({args.messages:,} due), best of "
               f"{args.rounds}", f"{before:,.0f} /s")  # fmt: skip
        figure("after", f"notifier, this tree ({args.messages:,} due), best of {args.rounds}",
               f"{after:,.0f} /s")  # fmt: skip
        figure("ratio", "after / before (best)", f"{after / before:.2f}x")
        figure("ratio", "after / the sinks' ceiling for the mix (best)", f"{after / mix:.0%}")
        figure("ratio", "after / the ceiling of the same round (each; median)",
               ", ".join(f"{r:.0%}" for r in ratios) + f"; {statistics.median(ratios):.0%}")  # fmt: skip
        sms = ceiling[next(k for k in ceiling if k.startswith("SMS batch"))]
        if args.broadcast:
            took = await deliver(settings, sinks, ROOT, args.broadcast, logs, alert=True)
            figure("broadcast", f"alert to {args.broadcast:,} volunteers (SMS), after",
                   f"{took / 60:.1f} min ({args.broadcast / took:,.0f} /s), {load()}")  # fmt: skip
            figure(
                "ratio", "alert rate / the SMS batch ceiling", f"{args.broadcast / took / sms:.0%}"
            )
            target(figure, args.broadcast, took)
        if args.broadcast_mix:
            took = await deliver(settings, sinks, ROOT, args.broadcast_mix, logs)
            figure("broadcast", f"{args.broadcast_mix:,} welcomes, half email, half SMS, after",
                   f"{took / 60:.1f} min ({args.broadcast_mix / took:,.0f} /s), {load()}")  # fmt: skip
            figure("ratio", "mixed broadcast rate / the sinks' ceiling for the mix",
                   f"{args.broadcast_mix / took / mix:.0%}")  # fmt: skip
            target(figure, args.broadcast_mix, took)
    finally:
        sinks.stop()
        shutil.rmtree(directory, ignore_errors=True)
    table = Table(title="Notifier: due messages (welcome), half email, half SMS")
    for column in ("kind", "what", "figure"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000, help="due rows, before and after")
    parser.add_argument("--broadcast", type=int, default=100_000,
                        help="volunteers alerted (SMS); 0: skip it")  # fmt: skip
    parser.add_argument("--broadcast-mix", type=int, default=0,
                        help="welcomes, half email, half SMS, after only; 0: skip it")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternating rounds of ceiling / before / after (best of each)")  # fmt: skip
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="the 'before' tree")
    asyncio.run(main(parser.parse_args()))
