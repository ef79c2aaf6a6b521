"""`tatawwu notifications status|list|retry` on a real ledger: retry requeues failures only."""

from __future__ import annotations

import asyncio

import pytest
import typer
from typer.testing import CliRunner

from consumers import history
from consumers.notifications import MIGRATIONS
from infra.db import connect
from infra.migrations import apply
from infra.settings import Settings
from tatawwu.cli_notifications import register

pytestmark = [pytest.mark.postgres]


async def make_ledger(settings: Settings, schema: str, statuses: list[str]) -> None:
    conn = await connect(settings)
    try:
        await conn.execute(f'create schema "{schema}"; set search_path to "{schema}"')
        await apply(conn, history.MIGRATIONS, MIGRATIONS)
        await conn.executemany(
            "insert into outbox (notification_id, cause_event_id, template, channel,"
            " volunteer_id, cause_time, status, attempts, last_error)"
            " values ($1, $2, 'welcome', 'sms', 'v-1', now(), $3, 5, $4)",
            [(f"ntf-{n}", f"e-{n}", s, "HTTP 503: down" if s == "failed" else None)
             for n, s in enumerate(statuses)],
        )  # fmt: skip
    finally:
        await conn.close()


async def statuses(settings: Settings, schema: str) -> dict[str, tuple[str, int]]:
    conn = await connect(settings)
    try:
        rows = await conn.fetch(f'select notification_id, status, attempts from "{schema}".outbox')
        return {r["notification_id"]: (r["status"], r["attempts"]) for r in rows}
    finally:
        await conn.close()


def test_status_list_and_retry(stack: Settings, unique: str) -> None:
    schema = f"ntfcli_{unique}"
    asyncio.run(make_ledger(stack, schema, ["sent", "failed", "failed", "suppressed"]))
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    try:
        result = runner.invoke(app, ["notifications", "status", "--schema", schema])
        assert result.exit_code == 0, result.output
        assert "failed" in result.output
        assert "HTTP 503: down" in result.output
        listed = runner.invoke(
            app, ["notifications", "list", "--status", "failed", "--schema", schema]
        )
        assert "ntf-1" in listed.output
        assert "ntf-2" in listed.output
        assert "ntf-0" not in listed.output

        one = runner.invoke(app, ["notifications", "retry", "ntf-1", "ntf-0", "--schema", schema])
        assert one.exit_code == 0, one.output
        assert "1 notification(s) queued again" in one.output  # ntf-0 was sent: never resent
        rows = asyncio.run(statuses(stack, schema))
        assert rows == {"ntf-0": ("sent", 5), "ntf-1": ("pending", 0), "ntf-2": ("failed", 5),
                        "ntf-3": ("suppressed", 5)}  # fmt: skip
        every = runner.invoke(app, ["notifications", "retry", "--all-failed", "--schema", schema])
        assert "1 notification(s) queued again" in every.output
        assert runner.invoke(app, ["notifications", "retry", "--schema", schema]).exit_code != 0
    finally:
        asyncio.run(drop(stack, schema))


async def drop(settings: Settings, schema: str) -> None:
    conn = await connect(settings)
    try:
        await conn.execute(f'drop schema "{schema}" cascade')
    finally:
        await conn.close()
