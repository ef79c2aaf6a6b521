"""The ledger's retention purge on a real PostgreSQL: back-dated rows lose their content only."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest
import typer
from typer.testing import CliRunner

from consumers import history
from consumers.notifications import MIGRATIONS
from consumers.notifications.retention import cutoff, purge_ledger, run_retention
from infra.db import connect, create_pool
from infra.migrations import apply
from infra.settings import Settings
from tatawwu.cli_notifications import register

pytestmark = [pytest.mark.postgres]
NOW = dt.datetime.now(dt.UTC)
CONTEXT_VALUE = {"opportunity_id": "opp-1", "hours": "3"}
CONTEXT = json.dumps(CONTEXT_VALUE)
ADDRESS_ERROR = "SMTP 550: <mariam.retention@example.qa> mailbox unknown"
# id -> (status, finished days ago, reported, last_error)
ROWS = {
    "old-sent": ("sent", 40, True, None),
    "old-failed": ("failed", 31, True, ADDRESS_ERROR),
    "old-unreported": ("failed", 40, False, ADDRESS_ERROR),  # its event still needs the text
    "recent-sent": ("sent", 29, True, None),
    "recent-failed": ("failed", 1, True, ADDRESS_ERROR),
    "pending": ("pending", None, False, "HTTP 503: down"),
}


async def make_ledger(settings: Settings, schema: str) -> None:
    conn = await connect(settings)
    try:
        await conn.execute(f'create schema "{schema}"; set search_path to "{schema}"')
        await apply(conn, history.MIGRATIONS, MIGRATIONS)
        await conn.executemany(
            "insert into outbox (notification_id, cause_event_id, template, channel,"
            " volunteer_id, cause_time, context, status, attempts, last_error, finished_at,"
            " reported) values ($1, $1, 'hours_verified', 'email', 'v-1', $2, $3::jsonb, $4,"
            " 1, $5, $6, $7)",
            [(id_, NOW - dt.timedelta(days=45), CONTEXT_VALUE, status, error,
              None if days is None else NOW - dt.timedelta(days=days), reported)
             for id_, (status, days, reported, error) in ROWS.items()],
        )  # fmt: skip
        await conn.executemany(
            "insert into feedback (feedback_id, provider_id, channel, outcome, reason,"
            " received_at, reported) values ($1, $1, 'email', 'bounced', $2, $3, true)",
            [("fb-old", ADDRESS_ERROR, NOW - dt.timedelta(days=40)),
             ("fb-recent", ADDRESS_ERROR, NOW - dt.timedelta(days=2))],
        )  # fmt: skip
    finally:
        await conn.close()


async def rows(settings: Settings, schema: str) -> dict[str, tuple[str, str | None]]:
    conn = await connect(settings)
    try:
        found = await conn.fetch(
            f'select notification_id as id, context::text, last_error from "{schema}".outbox'
            f' union all select feedback_id, null, reason from "{schema}".feedback'
        )
        return {r["id"]: (r["context"], r["last_error"]) for r in found}
    finally:
        await conn.close()


async def drop(settings: Settings, schema: str) -> None:
    conn = await connect(settings)
    await conn.execute(f'drop schema if exists "{schema}" cascade')
    await conn.close()


async def test_rows_finished_before_the_cutoff_lose_context_and_provider_text_once(
    stack: Settings, unique: str
) -> None:
    """Reported rows finished over 30 days ago: context emptied, error cut to its code;
    recent, unreported and pending rows untouched; a second purge changes nothing; two
    purges at once (two notifier instances) share the rows without waiting or erring."""
    schema = f"ntfret_{unique}"
    await make_ledger(stack, schema)
    pool = await create_pool(stack, min_size=2, max_size=2,
                             server_settings={"search_path": f'"{schema}"'})  # fmt: skip
    try:
        before = cutoff(NOW, 30)
        first, second = await asyncio.gather(
            purge_ledger(pool, before, batch=1), purge_ledger(pool, before, batch=1)
        )
        assert first["outbox"] + second["outbox"] == 2
        assert first["feedback"] + second["feedback"] == 1
        after = await rows(stack, schema)
        assert after["old-sent"] == ("{}", None)
        assert after["old-failed"] == ("{}", "SMTP 550")
        assert after["fb-old"] == (None, "SMTP 550")
        for untouched in ("old-unreported", "recent-sent", "recent-failed", "pending"):
            assert json.loads(after[untouched][0]) == json.loads(CONTEXT), untouched
            assert after[untouched][1] == ROWS[untouched][3], untouched
        assert after["fb-recent"] == (None, ADDRESS_ERROR)
        assert await purge_ledger(pool, before) == {"outbox": 0, "feedback": 0}
        assert await rows(stack, schema) == after
    finally:
        await pool.close()
        await drop(stack, schema)


async def test_the_notifiers_periodic_purge_follows_its_clock_and_stops(
    stack: Settings, unique: str
) -> None:
    """`run_retention` with a clock 60 days ahead purges every finished, reported row at
    its first pass, and returns once stopping is set."""
    schema = f"ntfrun_{unique}"
    await make_ledger(stack, schema)
    pool = await create_pool(stack, min_size=1, max_size=1,
                             server_settings={"search_path": f'"{schema}"'})  # fmt: skip
    stopping = asyncio.Event()
    task = asyncio.create_task(run_retention(
        pool, 30, 3600, stopping, clock=lambda: NOW + dt.timedelta(days=60)))  # fmt: skip
    try:
        for _ in range(200):
            if (await rows(stack, schema))["recent-failed"][1] == "SMTP 550":
                break
            await asyncio.sleep(0.05)
        after = await rows(stack, schema)
        assert after["recent-sent"] == ("{}", None)
        assert after["recent-failed"] == ("{}", "SMTP 550")
        assert after["old-unreported"][1] == ADDRESS_ERROR
        assert after["pending"][1] == "HTTP 503: down"
        stopping.set()
        await asyncio.wait_for(task, 10)
    finally:
        stopping.set()
        await pool.close()
        await drop(stack, schema)


def test_the_purge_command_counts_then_purges(stack: Settings, unique: str) -> None:
    """`tatawwu notifications purge --dry-run` counts, without it purges; --help explains."""
    schema = f"ntfpcli_{unique}"
    asyncio.run(make_ledger(stack, schema))
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    try:
        shown = runner.invoke(app, ["notifications", "purge", "--help"])
        assert shown.exit_code == 0
        assert "--older-than-days" in shown.output
        dry = runner.invoke(app, ["notifications", "purge", "--schema", schema, "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "would purge 2 ledger row(s)" in dry.output
        assert asyncio.run(rows(stack, schema))["old-sent"][0] != "{}"
        done = runner.invoke(app, ["notifications", "purge", "--schema", schema,
                                   "--older-than-days", "0.5"])  # fmt: skip
        assert done.exit_code == 0, done.output
        assert "purged 4 ledger row(s)" in done.output  # with the 29- and 1-day-old ones
    finally:
        asyncio.run(drop(stack, schema))
