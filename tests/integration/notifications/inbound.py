"""The whole loop for reply and feedback tests: gateway, notifier, sinks calling back.

The gateway runs in this event loop (ASGI) and writes the catalog's own topics; the
notifier (and, when asked, the campaigns projector) start at those topics' current ends,
so they see only what the test sends. The sinks call the gateway's webhooks back, signed
with the test's secret, through the same ASGI app.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import orjson
from aiokafka import TopicPartition
from pydantic import SecretStr

from consumers.campaigns import PROJECTOR as CAMPAIGNS
from consumers.notifications import build_projector
from infra.db import connect
from infra.kafka import build_consumer, end_offsets
from infra.local.sink_webhooks import WebhookSender
from infra.local.sinks import Sinks
from infra.settings import Settings
from schemas.decode import decode_event
from tests.integration.notifications.conftest import notifier
from tests.support.gateway import Partner, gateway, new_partner, start_at_end
from tests.support.projectors import running_projector

SECRET = "test-webhook-secret-not-for-production"
NOTIFICATIONS = "tatawwu.notifications"


@dataclass
class World:
    """Everything one test talks to."""

    settings: Settings
    app: Any
    client: httpx.AsyncClient
    sinks: Sinks
    webhooks: WebhookSender
    partner: Partner
    conn: asyncpg.Connection
    schema: str  # the notifier's
    campaigns: str  # the campaigns projector's schema ("" when not running)
    notifications_from: dict[TopicPartition, int]

    async def publish(self, *documents: dict[str, Any]) -> None:
        """Send the partner's events through the gateway (202 each)."""
        for document in documents:
            response = await self.client.post("/v1/events", content=orjson.dumps(document),
                                              headers={"Authorization": f"Bearer {self.partner.key}",
                                                       "Content-Type": "application/json"})  # fmt: skip
            assert response.status_code == 202, response.text

    async def reply(self, number: str, text: str) -> dict[str, Any]:
        """A volunteer texts the platform (the SMS sink's control endpoint, signed)."""
        async with httpx.AsyncClient(base_url=self.sinks.sms_base_url) as http:
            answer = await http.post("/control/reply", json={"from": number, "body": text})
        assert answer.status_code == 200, answer.text
        document = answer.json()
        assert document["gateway_status"] == 200, document
        return dict(document["gateway"])

    async def rows(self, volunteer_id: str) -> list[dict[str, Any]]:
        """The volunteer's ledger rows."""
        return [dict(r) for r in await self.conn.fetch(
            f'select * from "{self.schema}".outbox where volunteer_id = $1 order by created_at',
            volunteer_id,
        )]  # fmt: skip

    async def contact(self, volunteer_id: str) -> dict[str, Any] | None:
        row = await self.conn.fetchrow(
            f'select * from "{self.schema}".contacts where volunteer_id = $1', volunteer_id
        )
        return dict(row) if row else None

    async def outcome_events(
        self, wanted: Callable[[list[Any]], bool], wait_s: float = 60
    ) -> list[Any]:
        """The notification.* events published since the world began, once `wanted` says so."""
        consumer = build_consumer(self.settings)
        await consumer.start()
        found: list[Any] = []
        try:
            consumer.assign(list(self.notifications_from))
            for tp, offset in self.notifications_from.items():
                consumer.seek(tp, offset)
            deadline = asyncio.get_running_loop().time() + wait_s
            while asyncio.get_running_loop().time() < deadline:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                found += [decode_event(r.value) for rs in batch.values() for r in rs]
                if wanted(found):
                    return found
        finally:
            await consumer.stop()
        msg = f"the expected notification events did not come in {wait_s}s: {len(found)} came"
        raise AssertionError(msg)


async def until(probe: Callable[[], Awaitable[Any]], what: str, wait_s: float = 60) -> Any:
    """Poll `probe` until it returns something truthy (generous deadline: a loaded machine)."""
    deadline = asyncio.get_running_loop().time() + wait_s
    while asyncio.get_running_loop().time() < deadline:
        if result := await probe():
            return result
        await asyncio.sleep(0.2)
    msg = f"timed out after {wait_s}s waiting for {what}"
    raise AssertionError(msg)


@contextlib.asynccontextmanager
async def world(
    stack: Settings, directory: Path, unique: str, *, campaigns: bool = False, **overrides: Any
) -> AsyncIterator[World]:
    """Gateway, sinks calling it back, notifier (and campaigns projector) from now on."""
    schema = f"ntf_in_{unique}"
    conn = await connect(stack)
    try:
        # Sinks first (their URLs go into the settings), then the gateway they call back.
        sinks = Sinks(directory, smtp_port=0, sms_port=0)
        await sinks.start()
        settings = stack.model_copy(update={
            "smtp_url": sinks.smtp_url, "sms_url": sinks.sms_url, "notify_quiet_hours": "",
            "notify_max_attempts": 10, "webhook_secret": SecretStr(SECRET),
            "webhook_notifier_schema": schema, **overrides,
        })  # fmt: skip
        await start_at_end(conn, settings, build_projector(settings), schema)
        campaigns_schema = f"cmp_in_{unique}" if campaigns else ""
        if campaigns:
            await start_at_end(conn, settings, CAMPAIGNS, campaigns_schema)
        starts = await end_offsets(settings, topics=[NOTIFICATIONS])
        async with gateway(settings) as (app, client), contextlib.AsyncExitStack() as running:
            webhooks = WebhookSender("http://gateway", SECRET.encode(),
                                     transport=httpx.ASGITransport(app=app))  # fmt: skip
            sinks.webhooks = sinks.smtp_handler.webhooks = sinks.sms_state.webhooks = webhooks
            running.push_async_callback(sinks.stop)
            partner = await new_partner(app, unique)
            await running.enter_async_context(notifier(settings, "", schema))
            if campaigns:
                await running.enter_async_context(running_projector(
                    CAMPAIGNS, settings, schema=campaigns_schema, group_id=f"g-{campaigns_schema}",
                    topic_prefix="",
                ))  # fmt: skip
            yield World(settings, app, client, sinks, webhooks, partner, conn, schema,
                        campaigns_schema, starts)  # fmt: skip
    finally:
        await conn.close()


def launched(partner: Partner) -> dict[str, Any]:
    """The partner's campaign (every later fact of theirs hangs off it)."""
    return partner.document(
        "campaign.launched", f"evt-{partner.unique}-launch", campaign_id=f"cmp-{partner.unique}",
        org_id=partner.org, starts_on="2026-01-01", ends_on="2030-12-31",
    )  # fmt: skip


def opportunity(partner: Partner, n: int = 1, starts_in_h: float = 20) -> dict[str, Any]:
    """An opportunity of the partner's campaign, starting in `starts_in_h` hours."""
    starts = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=starts_in_h)
    return partner.document(
        "opportunity.published", f"evt-{partner.unique}-opp-{n}",
        opportunity_id=f"opp-{partner.unique}-{n}", campaign_id=f"cmp-{partner.unique}",
        starts_at=starts.isoformat().replace("+00:00", "Z"),
        ends_at=(starts + dt.timedelta(hours=3)).isoformat().replace("+00:00", "Z"), capacity=10,
    )  # fmt: skip


def volunteer(partner: Partner, n: int, *, sms: bool = True, email: bool = True) -> dict[str, Any]:
    """A volunteer registered by the partner, with a phone and address of their own."""
    return partner.document(
        "volunteer.registered", f"evt-{partner.unique}-reg-{n}",
        volunteer_id=f"vol-{partner.unique}-{n}", phone=phone(partner, n),
        email=f"vol-{partner.unique}-{n}@example.org", language="en",
        consent={"sms": sms, "email": email},
    )  # fmt: skip


def phone(partner: Partner, n: int) -> str:
    """A number unique to this test's volunteer n."""
    digits = int(partner.unique[:8], 16) % 10**7
    return f"+9745{digits:07d}{n}"


def signed_up(partner: Partner, n: int, opp: int = 1) -> dict[str, Any]:
    return partner.document(
        "volunteer.signed_up", f"evt-{partner.unique}-su-{n}-{opp}",
        volunteer_id=f"vol-{partner.unique}-{n}", opportunity_id=f"opp-{partner.unique}-{opp}",
        campaign_id=f"cmp-{partner.unique}",
    )  # fmt: skip
