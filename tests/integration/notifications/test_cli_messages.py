"""`tatawwu notifications confirmations|alerts` on a ledger the notifier's own enqueue wrote."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
import typer
from typer.testing import CliRunner

from consumers.notifications.projector import build_projector
from infra.db import connect
from infra.migrations import apply
from infra.settings import Settings
from tatawwu.cli_notifications import register
from tests.integration.notifications.world import signed_up
from tests.integration.notifications.world_messages import published, volunteer

pytestmark = [pytest.mark.postgres]


async def make_ledger(settings: Settings, schema: str) -> None:
    """Two alerted volunteers, two opportunities (one in the digest), three confirmations."""
    settings = settings.model_copy(update={"notify_quiet_hours": ""})
    projector = build_projector(settings)
    conn = await connect(settings)
    try:
        await conn.execute(f'create schema "{schema}"; set search_path to "{schema}"')
        await apply(conn, *projector.migrations)
        first = dt.datetime.now(dt.UTC)
        batches = [
            [volunteer("v-1", alerts=True), volunteer("v-2", alerts=True), volunteer("v-3")],
            [published("opp-1"), published("opp-2")],
            [signed_up(v, "opp-1", time=first) for v in ("v-1", "v-2", "v-3")],
        ]
        for events in batches:
            async with conn.transaction():
                await projector.apply(conn, events)
        await conn.execute(
            "update outbox set status = 'sent', finished_at = now(),"
            " reply = case volunteer_id when 'v-1' then 'yes' when 'v-2' then 'no' end"
            " where template = 'attendance_confirmation'"
        )
    finally:
        await conn.close()


def test_confirmations_and_alerts_are_counted_per_opportunity(stack: Settings, unique: str) -> None:
    schema = f"ntfmsg_{unique}"
    asyncio.run(make_ledger(stack, schema))
    app = typer.Typer()
    register(app)
    runner = CliRunner()
    try:
        asked = runner.invoke(app, ["notifications", "confirmations", "--schema", schema])
        assert asked.exit_code == 0, asked.output
        row = next(line for line in asked.output.splitlines() if "opp-1" in line)
        # asked, yes, no, unanswered, released, waiting
        assert [c.strip() for c in row.strip("│ ").split("│")][1:] == ["3", "1", "1", "1", "0", "0"]
        alerted = runner.invoke(app, ["notifications", "alerts", "--schema", schema])
        assert alerted.exit_code == 0, alerted.output
        lines = {line.split("│")[1].strip(): line for line in alerted.output.splitlines()
                 if "opp-" in line}  # fmt: skip
        # both matched: opp-1 alerted today (waiting: nothing sends here), opp-2 in a digest
        for opportunity in ("opp-1", "opp-2"):
            cells = [c.strip() for c in lines[opportunity].strip("│ ").split("│")]
            assert cells[2:] == ["2", "0", "2", "0"]
    finally:
        asyncio.run(drop(stack, schema))


async def drop(settings: Settings, schema: str) -> None:
    conn = await connect(settings)
    try:
        await conn.execute(f'drop schema "{schema}" cascade')
    finally:
        await conn.close()
