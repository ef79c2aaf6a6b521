"""A trace started at the gateway follows the event into the notifier's ledger and log lines."""

from __future__ import annotations

import orjson
import pytest
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from consumers.notifications import build_projector
from infra.db import connect
from infra.local.sinks import Sinks
from infra.settings import Settings
from tests.integration.notifications.conftest import notifier, settled
from tests.support.gateway import gateway, new_partner, start_at_end

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


async def test_the_gateways_trace_names_the_messages_its_event_caused(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Registered through the gateway with a traceparent: the welcome's lines carry its trace."""
    schema = f"ntf_trace_{unique}"
    conn = await connect(notifier_settings)
    try:
        await start_at_end(conn, notifier_settings, build_projector(notifier_settings), schema)
        async with gateway(notifier_settings) as (app, client):
            partner = await new_partner(app, unique)
            registered = partner.document(
                "volunteer.registered", f"evt-{unique}-reg", volunteer_id=f"vol-{unique}",
                email=f"vol-{unique}@example.org", phone="+97450000042", language="en",
                consent={"sms": True, "email": True},
            )  # fmt: skip
            response = await client.post("/v1/events", content=orjson.dumps(registered), headers={
                "Authorization": f"Bearer {partner.key}", "Content-Type": "application/json",
                "traceparent": f"00-{CALLER_TRACE}-00f067aa0ba902b7-01",
            })  # fmt: skip
            assert response.status_code == 202, response.text
        with capture_logs(processors=[merge_contextvars]) as logs:
            async with notifier(notifier_settings, "", schema) as task:
                rows = await settled(conn, schema, expected=2, task=task)
    finally:
        await conn.close()

    assert {(r["template"], r["channel"], r["status"]) for r in rows} == {
        ("welcome", "email", "sent"), ("welcome", "sms", "sent"),
    }  # fmt: skip
    assert {r["cause_trace_id"] for r in rows} == {CALLER_TRACE}
    sent = [line for line in logs if line["event"] == "notification_sent"]
    assert {line["notification_id"] for line in sent} == {r["notification_id"] for r in rows}
    assert {line.get("trace_id") for line in sent} == {CALLER_TRACE}
    # The enqueue half's batch line names it too.
    batches = [line for line in logs if line["event"] == "batch_applied"]
    assert any(CALLER_TRACE in line["trace_ids"] for line in batches)
