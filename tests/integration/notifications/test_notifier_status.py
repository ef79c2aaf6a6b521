"""The ledger's figures, as the notifier's gauges and `tatawwu notifications status` show them."""

from __future__ import annotations

import asyncio
import json

import pytest
import typer
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from consumers import history
from consumers.notifications import MIGRATIONS, metrics
from infra.db import connect, create_pool
from infra.migrations import apply
from infra.settings import Settings
from tatawwu.cli_notifications import register
from tests.integration.notifications.test_cli_notifications import drop

pytestmark = [pytest.mark.postgres]
# (id, channel, template, status, due this many seconds ago: negative = not yet due)
ROWS = [
    ("n-1", "sms", "welcome", "pending", 30), ("n-2", "sms", "welcome", "pending", 180),
    ("n-3", "sms", "shift_reminder", "pending", 7200), ("n-4", "sms", "welcome", "pending", -3600),
    ("n-5", "email", "welcome", "sending", 600), ("n-6", "email", "welcome", "sent", 0),
    ("n-7", "email", "welcome", "sent", 0), ("n-8", "sms", "hours_thanks", "failed", 0),
    ("n-9", "email", "welcome", "suppressed", 0),
]  # fmt: skip


async def make_ledger(settings: Settings, schema: str) -> None:
    conn = await connect(settings)
    try:
        await conn.execute(f'create schema "{schema}"; set search_path to "{schema}"')
        await apply(conn, history.MIGRATIONS, MIGRATIONS)
        await conn.executemany(
            "insert into outbox (notification_id, cause_event_id, template, channel,"
            " volunteer_id, cause_time, status, last_error, next_attempt_at)"
            " values ($1, $1, $3, $2, 'v-1', now(), $4, $5,"
            " now() - make_interval(secs => $6))",
            [(*r[:4], "HTTP 400: bad number" if r[3] == "failed" else None, float(r[4]))
             for r in ROWS],
        )  # fmt: skip
    finally:
        await conn.close()


def gauge(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    assert value is not None, (name, labels)
    return value


async def refresh(settings: Settings, schema: str) -> None:
    pool = await create_pool(settings, min_size=1, max_size=1,
                             server_settings={"search_path": f'"{schema}"'})  # fmt: skip
    try:
        await metrics.refresh_ledger_gauges(pool)
    finally:
        await pool.close()


def test_gauges_and_status_show_what_waits_by_due_age_and_what_was_sent(
    stack: Settings, unique: str
) -> None:
    """Pending by due age, oldest due and backlog per channel; status --json says the same,
    with every row by channel, template and state, and the failures."""
    schema = f"ntfst_{unique}"
    asyncio.run(make_ledger(stack, schema))
    app = typer.Typer()
    register(app)
    try:
        asyncio.run(refresh(stack, schema))
        expected = {"later": 1, "0_1m": 1, "1_5m": 1, "5_15m": 0, "15_60m": 0, "1h_plus": 1}
        for age, count in expected.items():
            assert gauge("tatawwu_notifier_pending_messages", channel="sms", due_age=age) == count
        assert gauge("tatawwu_notifier_pending_messages", channel="email", due_age="5_15m") == 1
        assert gauge("tatawwu_notifier_backlog_messages", channel="sms") == 4
        assert 7200 <= gauge("tatawwu_notifier_oldest_due_age_seconds", channel="sms") < 7300
        assert 600 <= gauge("tatawwu_notifier_oldest_due_age_seconds", channel="email") < 700

        result = CliRunner().invoke(app, ["notifications", "status", "--schema", schema, "--json"])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert report["pending"]["sms"] == expected
        assert report["pending"]["email"]["5_15m"] == 1
        assert 7200 <= report["oldest_due_s"]["sms"] < 7300
        totals = {(t["channel"], t["template"], t["status"]): t["count"] for t in report["totals"]}
        assert totals == {
            ("email", "welcome", "sending"): 1, ("email", "welcome", "sent"): 2,
            ("email", "welcome", "suppressed"): 1, ("sms", "hours_thanks", "failed"): 1,
            ("sms", "shift_reminder", "pending"): 1, ("sms", "welcome", "pending"): 3,
        }  # fmt: skip
        assert report["failures"] == [{"error": "HTTP 400: bad number", "count": 1}]

        human = CliRunner().invoke(app, ["notifications", "status", "--schema", schema])
        assert human.exit_code == 0, human.output
        assert "1h_plus" in human.output
        assert "shift_reminder" in human.output
        assert "HTTP 400: bad number" in human.output
    finally:
        asyncio.run(drop(stack, schema))


def test_provider_feedback_is_counted_by_channel_and_template() -> None:
    """`count_feedback` (for the webhooks) counts bounced and delivered; nothing else."""

    def value(outcome: str) -> float:
        labels = {"channel": "email", "template": "welcome", "outcome": outcome}
        return REGISTRY.get_sample_value("tatawwu_notifier_messages_total", labels) or 0.0

    before = value("bounced"), value("delivered")
    metrics.count_feedback("email", "welcome", "bounced")
    metrics.count_feedback("email", "welcome", "delivered")
    metrics.count_feedback("email", "welcome", "delivered")
    assert (value("bounced"), value("delivered")) == (before[0] + 1, before[1] + 2)
    with pytest.raises(ValueError, match="provider feedback is one of"):
        metrics.count_feedback("email", "welcome", "sent")
    with pytest.raises(ValueError, match="a finished message is one of"):
        metrics.finished("email", "welcome", "bounced")
