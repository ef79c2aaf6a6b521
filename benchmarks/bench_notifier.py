"""Notifier throughput, side by side in one run, against the local Kafka, PostgreSQL and sinks.

  (a) the sinks' ceiling, measured directly (no ledger): raw aiosmtplib over pooled
      connections (as many as the notifier keeps), raw batches to the SMS sink's batch
      endpoint (100 a request, 4 requests at a time), and both at once for the notifier's
      mix (half email, half SMS) -- the figure the notifier is held against; for
      reference, the old way too (a connection per email, a request per SMS, 10 at a time);
  (b) the notifier before (the tree at `--baseline-rev`, main before this work: a claim of
      50 waits for its slowest send, a connection or request per message) and after (this
      tree), each `tatawwu notifications run` in its own process on its own topics and
      schema, both started once and kept running, each warmed with one message (so no
      clock times joining a group or opening connections); then `--rounds` rounds of the
      mix's ceiling, after and before, seconds apart, the order turned each round, after
      always next to its ceiling (the sinks' speed on this machine drifts by 2x within
      minutes, so only near neighbours compare):
      each delivery is `--messages` ledger rows (half email, half SMS, one per volunteer)
      inserted set-based, timed until every row is sent and its `notification.sent`
      published. Reported: each over all rounds (messages / time), after against the
      ceiling round by round (and their median), and best against best;
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
select 'ntf-bench-' || $2 || '-' || g, 'bench-' || $2 || '-' || g, 'welcome',
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


class Notifier:
    """`tatawwu notifications run` of `tree` in its own process, on its own topics and
    schema, kept running across deliveries (`async with`); `contacts` volunteers known."""

    def __init__(self, settings: Settings, sinks: SinkProcess, tree: Path, logs: Path,
                 contacts: int) -> None:  # fmt: skip
        self.settings, self.sinks, self.tree, self.logs = settings, sinks, tree, logs
        self.contacts = contacts
        self.tag = uuid.uuid4().hex[:8]
        self.schema = f"bench_ntf_{self.tag}"
        self.deliveries = 0

    async def __aenter__(self) -> Notifier:
        prefix = f"benchntf.{self.tag}."
        await create_prefixed_topics(self.settings, prefix)
        sinks, schema = self.sinks, self.schema
        env = {**os.environ, "TATAWWU_SMTP_URL": sinks.smtp_url, "TATAWWU_SMS_URL": sinks.sms_url,
               "TATAWWU_NOTIFY_QUIET_HOURS": "", "TATAWWU_LOG_LEVEL": "INFO",
               "TATAWWU_LOG_FORMAT": "json", "TATAWWU_CACHE_DIR": str(self.settings.cache_dir),
               "PYTHONPATH": str(self.tree)}  # fmt: skip
        cmd = [sys.executable, "-m", "tatawwu", "notifications", "run", "--topic-prefix",
               prefix, "--schema", schema, "--group-id", f"g-{schema}"]  # fmt: skip
        self.conn = await connect(self.settings)
        with self.logs.open("ab") as out:  # starts the child and returns at once
            self.proc = subprocess.Popen(cmd, cwd=self.tree, env=env, stdout=out,  # noqa: ASYNC220
                                         stderr=subprocess.STDOUT)  # fmt: skip
        try:
            while not await self.conn.fetchval("select to_regclass($1)", f'"{schema}".outbox'):
                self._alive()
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)  # its migrations are committed before its table is seen
            await self.conn.execute(f'set search_path to "{schema}"')
            await self.conn.execute(CONTACTS, self.contacts + 1)
            await self.conn.execute(OPPORTUNITY)
            # One message first, sent and reported before any clock starts: the notifier
            # has joined its group and opened its connections to the providers and Kafka,
            # so the times are the sending, not the start-up (seconds, varying).
            await self.conn.execute(WARM, f"ntf-warm-{self.tag}", f"bv-{self.contacts + 1}")
            await self._settled(0.05)
        except BaseException:
            await self.__aexit__()
            raise
        return self

    async def __aexit__(self, *_: object) -> None:
        self.proc.terminate()
        await asyncio.to_thread(self.proc.wait, 60)
        await self.conn.execute(f'drop schema if exists "{self.schema}" cascade')
        await self.conn.close()

    async def deliver(self, rows: int, *, alert: bool = False) -> float:
        """Seconds to send and report `rows` new due messages (`alert`: one opportunity's
        alerts, SMS; else the welcome, half email, half SMS), from their insert."""
        self.deliveries += 1
        tag = f"{self.tag}d{self.deliveries}"  # ids (idempotency keys) of this delivery only
        began = time.perf_counter()
        await self.conn.execute(ALERTS if alert else DUE, rows, tag)
        await self._settled(0.05 if rows < 10_000 else 0.5)
        took = time.perf_counter() - began
        sent = await self.conn.fetchval(
            "select count(*) from outbox where status = 'sent' and notification_id like $1",
            f"%-{tag}-%",
        )
        if sent != rows:
            msg = f"{sent} of {rows} sent by the notifier of {self.tree}: see {self.logs}"
            raise RuntimeError(msg)
        return took

    def _alive(self) -> None:
        if self.proc.poll() is not None:
            msg = f"the notifier of {self.tree} exited: see {self.logs}"
            raise RuntimeError(msg)

    async def _settled(self, poll_s: float) -> None:
        """Until every ledger row is finished and its outcome published."""
        while await self.conn.fetchval(
            "select (select count(*) from outbox where status in ('pending', 'sending'))"
            " + (select count(*) from outbox where not reported"
            " and status in ('sent', 'failed', 'suppressed'))"
        ):
            self._alive()
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
        known = max(args.messages, args.broadcast, args.broadcast_mix)
        async with (
            Notifier(settings, sinks, before_tree, logs, known) as before_notifier,
            Notifier(settings, sinks, ROOT, logs, known) as after_notifier,
        ):
            n, connections = args.messages, settings.notify_smtp_connections

            async def rate(what: str, round_: int) -> float:
                if what == "mix":
                    return await mix_ceiling(sinks, n, connections, f"r{round_}")
                notifier = before_notifier if what == "before" else after_notifier
                return n / await notifier.deliver(n)

            runs: dict[str, list[float]] = {"mix": [], "before": [], "after": []}
            for round_ in range(1, args.rounds + 1):  # alternating, seconds apart
                # after next to the ceiling it is held against; the order turns each round
                order = ["mix", "after", "before"] if round_ % 2 else ["before", "after", "mix"]
                rates = {what: await rate(what, round_) for what in order}
                for what, value in rates.items():
                    runs[what].append(value)
                figure("round", f"{round_}: ceiling for the mix / before / after ({n:,})",
                       " / ".join(f"{rates[k]:,.0f}" for k in runs) + f" /s, {load()}")  # fmt: skip
            best = {k: max(v) for k, v in runs.items()}
            whole = {k: len(v) / sum(1 / r for r in v) for k, v in runs.items()}  # n each
            ratios = [a / m for a, m in zip(runs["after"], runs["mix"], strict=True)]
            mix, before, after = whole["mix"], whole["before"], whole["after"]
            figure("ceiling", f"both at once, half email, half SMS, {args.rounds} rounds "
                   f"(best {best['mix']:,.0f})", f"{mix:,.0f} /s")  # fmt: skip
            figure("before", f"notifier at {args.baseline_rev}, {args.rounds} rounds "
                   f"(best {best['before']:,.0f})", f"{before:,.0f} /s")  # fmt: skip
            figure("after", f"notifier, this tree, {args.rounds} rounds "
                   f"(best {best['after']:,.0f})", f"{after:,.0f} /s")  # fmt: skip
            figure("ratio", "after / before (all rounds)", f"{after / before:.2f}x")
            figure("ratio", "after / the sinks' ceiling for the mix (all rounds)",
                   f"{after / mix:.0%}")  # fmt: skip
            figure("ratio", "after / the ceiling, round by round (median)",
                   ", ".join(f"{r:.0%}" for r in ratios) + f" ({statistics.median(ratios):.0%})")  # fmt: skip
            figure("ratio", "after / the sinks' ceiling for the mix (best / best)",
                   f"{best['after'] / best['mix']:.0%}")  # fmt: skip
            sms = ceiling[next(k for k in ceiling if k.startswith("SMS batch"))]
            if args.broadcast:
                took = await after_notifier.deliver(args.broadcast, alert=True)
                figure("broadcast", f"alert to {args.broadcast:,} volunteers (SMS), after",
                       f"{took / 60:.1f} min ({args.broadcast / took:,.0f} /s), {load()}")  # fmt: skip
                figure("ratio", "alert rate / the SMS batch ceiling",
                       f"{args.broadcast / took / sms:.0%}")  # fmt: skip
                target(figure, args.broadcast, took)
            if args.broadcast_mix:
                took = await after_notifier.deliver(args.broadcast_mix)
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
    parser.add_argument("--messages", type=int, default=2000,
                        help="due rows a round, before and after")  # fmt: skip
    parser.add_argument("--broadcast", type=int, default=100_000,
                        help="volunteers alerted (SMS); 0: skip it")  # fmt: skip
    parser.add_argument("--broadcast-mix", type=int, default=0,
                        help="welcomes, half email, half SMS, after only; 0: skip it")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=8,
                        help="alternating rounds of ceiling / before / after")  # fmt: skip
    parser.add_argument("--baseline-rev", default=BASELINE_REV, help="the 'before' tree")
    asyncio.run(main(parser.parse_args()))
