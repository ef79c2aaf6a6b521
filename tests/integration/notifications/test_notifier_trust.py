"""The notifier at the trust boundary: crafted free text and cause times from the future.

Real Kafka, PostgreSQL, SMTP (aiosmtpd) and HTTP SMS sinks, the notifier's two halves
running in this event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import orjson
import pytest

from consumers.notifications import rules
from infra.db import connect
from infra.local.sinks import Sinks, read_sms, read_smtp
from infra.settings import Settings
from schemas.envelope import Event
from schemas.registry import new_event
from schemas.volunteers import VolunteerRegistered
from tests.integration.notifications.conftest import notifier, settled
from tests.integration.notifications.test_notifier import outcome_events
from tests.integration.notifications.world import SOURCE, publish_events, registered
from tests.support.projectors import create_prefixed_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
CRAFTED_NAME = "Sara visit https://evil.example/win or WWW.EVIL.EXAMPLE"


def crafted_registration(volunteer_id: str, given_name: str) -> Event[Any]:
    """A registration whose given name carries links (the contract allows the characters)."""
    data = VolunteerRegistered.model_validate_json(orjson.dumps({
        "volunteer_id": volunteer_id, "given_name": given_name, "phone": "+97450000077",
        "email": f"{volunteer_id}@example.org", "language": "en", "birth_year": 1995,
        "gender": "female", "nationality_group": "qatari", "municipality": "doha",
        "consent": {"sms": True, "email": True},
    }))  # fmt: skip
    return new_event(data, source=SOURCE, event_id=f"reg-{volunteer_id}")


async def schema_ready(conn: asyncpg.Connection, schema: str) -> None:
    """Wait until the notifier has created its ledger."""
    for _ in range(300):
        if await conn.fetchval("select to_regclass($1)", f'"{schema}".outbox'):
            return
        await asyncio.sleep(0.1)
    msg = f"the notifier did not create {schema}.outbox"
    raise AssertionError(msg)


async def test_a_crafted_given_name_is_delivered_without_its_links(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """The welcome email and SMS greet the volunteer by name; the links in it are gone."""
    prefix, schema = f"ntt.{unique}.", f"ntt_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    await publish_events(notifier_settings, prefix, [crafted_registration("v-1", CRAFTED_NAME)])
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            rows = await settled(conn, schema, expected=2, task=task)
    finally:
        await conn.close()

    assert [r["status"] for r in rows] == ["sent", "sent"]
    [email], [sms] = read_smtp(sinks.directory), read_sms(sinks.directory)
    for text in (email["subject"], email["text"], email["html"], sms["body"]):
        assert "evil" not in text.casefold(), text
        assert "://" not in text
        assert "www" not in text.casefold()
    assert email["subject"] == "Welcome to Tatawwu, Sara visit or"
    assert email["text"].startswith("Dear Sara visit or,\n\n")
    assert sms["body"] == (
        "Tatawwu: welcome, Sara visit or! Thank you for registering as a volunteer."
    )


async def test_a_cause_time_in_the_future_is_suppressed_at_once_not_held_forever(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Ledger rows timed a day or years ahead finish as `cause_in_future`; 2 min ahead is skew.

    The rows are written straight into the ledger, as rows enqueued before the bound
    existed (or before the contract refused such times) would be.
    """
    prefix, schema = f"ntf.{unique}.", f"ntf_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    await publish_events(notifier_settings, prefix, [registered("v-2", language="en")])
    now = dt.datetime.now(dt.UTC)
    ahead = [  # (cause id, template, channel, volunteer, cause time)
        ("e-tomorrow", "welcome", "email", "v-2", now + dt.timedelta(days=1)),
        ("e-9999", "signup_confirmed", "sms", "v-nobody", dt.datetime(9999, 12, 31, tzinfo=dt.UTC)),
        ("e-skewed", "hours_thanks", "email", "v-2", now + dt.timedelta(minutes=2)),
    ]  # fmt: skip
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            await schema_ready(conn, schema)
            await settled(conn, schema, expected=2, task=task)  # v-2's welcome: contact known
            await conn.executemany(
                f'insert into "{schema}".outbox (notification_id, cause_event_id, template,'
                " channel, volunteer_id, cause_time, context) values ($1, $2, $3, $4, $5, $6,"
                """ '{"opportunity_id": "opp-1", "hours": "2"}'::jsonb)""",
                [(rules.notification_id(e, t, c), e, t, c, v, at) for e, t, c, v, at in ahead],
            )
            rows = await settled(conn, schema, expected=5, task=task, wait_s=30)
    finally:
        await conn.close()

    by_cause = {r["cause_event_id"]: r for r in rows}
    for cause in ("e-tomorrow", "e-9999"):
        assert (by_cause[cause]["status"], by_cause[cause]["reason"]) == (
            "suppressed", "cause_in_future"
        )  # fmt: skip
        assert by_cause[cause]["attempts"] == 1  # looked at once, never held
    assert by_cause["e-skewed"]["status"] == "sent"
    emails = read_smtp(sinks.directory)
    assert sorted(m["headers"]["x-idempotency-key"] for m in emails) == sorted(
        r["notification_id"] for r in rows if r["status"] == "sent" and r["channel"] == "email"
    )
    outcomes = await outcome_events(notifier_settings, prefix, 5)
    suppressed = {e.data.cause_event_id: e.data.reason for e in outcomes
                  if e.type == "notification.suppressed"}  # fmt: skip
    assert suppressed == {"e-tomorrow": "cause_in_future", "e-9999": "cause_in_future"}
