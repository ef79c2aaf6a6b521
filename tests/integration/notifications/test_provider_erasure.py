"""An erasure reaches the providers: the messages they kept of the volunteer are deleted."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from infra.db import connect
from infra.erasure import erased_event
from infra.local.sinks import Sinks, read_sms, read_smtp
from infra.settings import Settings
from tests.integration.notifications.conftest import notifier, settled
from tests.integration.notifications.world import publish_events, registered
from tests.support.projectors import create_prefixed_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def held(sinks: Sinks, volunteer_id: str) -> dict[str, int]:
    """How many emails and SMS the sinks keep for one volunteer (world's addresses)."""
    n = int("".join(c for c in volunteer_id if c.isdigit()))
    return {
        "email": sum(f"{volunteer_id}@example.org" in m["rcpt_tos"] for m in read_smtp(sinks.directory)),
        "sms": sum(m["to"] == f"+9745{n:07d}" for m in read_sms(sinks.directory)),
    }  # fmt: skip


async def test_erasure_deletes_the_volunteers_messages_at_the_providers_and_retries(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Two volunteers welcomed by email and SMS; the first erased while the SMS provider
    fails its next requests: the notifier asks again until both providers have deleted
    every message of theirs; the other volunteer's stay, and nothing is left to ask."""
    prefix, schema = f"npe.{unique}.", f"npe_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    one, two = f"v-{int(unique[:6], 16)}1", f"v-{int(unique[:6], 16)}2"
    await publish_events(notifier_settings, prefix, [registered(one), registered(two)])
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            await settled(conn, schema, expected=4, task=task)
            assert held(sinks, one) == held(sinks, two) == {"email": 1, "sms": 1}
            sinks.sms_state.fail_remaining, sinks.sms_state.fail_status = 2, 503
            await publish_events(notifier_settings, prefix,
                                 [erased_event(one, dt.datetime.now(dt.UTC))])  # fmt: skip
            for _ in range(150):  # the job runs every 5 s; the failures cost one more pass
                asked = await conn.fetchval(
                    f'select to_regclass($1) is not null and exists (select 1 from "{schema}"'
                    ".outbox where context = '{}' and volunteer_id = $2)",
                    f'"{schema}".provider_erasures', one,
                )  # fmt: skip
                left = await conn.fetchval(f'select count(*) from "{schema}".provider_erasures')
                if asked and not left and held(sinks, one) == {"email": 0, "sms": 0}:
                    break
                assert not task.done()
                await asyncio.sleep(0.2)
            assert held(sinks, one) == {"email": 0, "sms": 0}
            assert held(sinks, two) == {"email": 1, "sms": 1}
            assert sinks.sms_state.fail_remaining == 0  # the failed requests were asked again
            assert await conn.fetchval(f'select count(*) from "{schema}".provider_erasures') == 0
    finally:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()


async def test_a_message_in_flight_at_the_erasure_is_deleted_at_the_provider_once_sent(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """The SMS provider answers 4 s late: the volunteer is erased while their welcome is
    being sent (the provider already keeps it, the ledger does not know its id yet). Once
    the send is recorded, the provider is asked to delete it too."""
    prefix, schema = f"npf.{unique}.", f"npf_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    one = f"v-{int(unique[:6], 16)}3"
    sinks.sms_state.delay_s = 4.0
    await publish_events(notifier_settings, prefix, [registered(one, email=False)])
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            for _ in range(300):  # claimed and handed over, not yet answered
                status = await conn.fetchval(
                    f'select status from "{schema}".outbox where volunteer_id = $1'
                    " and channel = 'sms'",
                    one,
                ) if await conn.fetchval("select to_regclass($1)", f'"{schema}".outbox') else None  # fmt: skip
                if status == "sending" and held(sinks, one)["sms"] == 1:
                    break
                assert not task.done()
                await asyncio.sleep(0.05)
            assert status == "sending"
            await publish_events(notifier_settings, prefix,
                                 [erased_event(one, dt.datetime.now(dt.UTC))])  # fmt: skip
            seen_in_flight = False
            for _ in range(200):
                seen_in_flight |= bool(await conn.fetchval(
                    f'select count(*) from "{schema}".erasures_in_flight'))  # fmt: skip
                done = await conn.fetchval(
                    f'select (select count(*) from "{schema}".erasures_in_flight)'
                    f' + (select count(*) from "{schema}".provider_erasures)'
                )
                if seen_in_flight and not done and held(sinks, one)["sms"] == 0:
                    break
                assert not task.done()
                await asyncio.sleep(0.1)
            assert seen_in_flight  # the erasure met the message in flight
            sent = await conn.fetchval(
                f'select provider_id from "{schema}".outbox where volunteer_id = $1'
                " and channel = 'sms'",
                one,
            )
            assert sent  # it was sent, and recorded after the erasure
            assert held(sinks, one)["sms"] == 0
    finally:
        sinks.sms_state.delay_s = 0.0
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()
