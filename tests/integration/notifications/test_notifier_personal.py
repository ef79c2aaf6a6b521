"""The notifier reaches volunteers whose contact details travel encrypted on the log."""

from __future__ import annotations

import pytest

from infra.db import connect, create_pool
from infra.keys import build_key_service
from infra.local.sinks import Sinks, read_sms, read_smtp
from infra.sealing import seal_events
from infra.settings import Settings
from tests.integration.notifications.conftest import notifier, settled
from tests.integration.notifications.world import (
    opportunity,
    publish_events,
    registered,
    signed_up,
)
from tests.support.personal import clear_hits
from tests.support.projectors import create_prefixed_topics
from tests.support.router import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_encrypted_contact_details_still_reach_the_volunteer(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Welcome, confirmation and reminder go to the phone and address only the encrypted
    registration holds, in the volunteer's name; the log holds none of them in clear."""
    prefix, schema = f"ntp.{unique}.", f"ntp_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    volunteer = f"v-{int(unique[:6], 16)}"
    registration = registered(volunteer, language="en")
    pool = await create_pool(notifier_settings, min_size=1, max_size=1)
    try:
        [sealed] = await seal_events(build_key_service(notifier_settings, pool), [registration])
    finally:
        await pool.close()
    await publish_events(notifier_settings, prefix, [sealed, opportunity(), signed_up(volunteer)])
    contact = {"phone": registration.data.phone, "email": registration.data.email}
    assert clear_hits(await read_all(notifier_settings, [prefix + "tatawwu.volunteers"]),
                      contact) == []  # fmt: skip
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            rows = await settled(conn, schema, expected=6, task=task, held_ok=True)
    finally:
        await conn.close()
    sent = {(r["template"], r["channel"]) for r in rows if r["status"] == "sent"}
    assert sent >= {(t, c) for t in ("welcome", "signup_confirmed") for c in ("email", "sms")}
    emails, texts = read_smtp(sinks.directory), read_sms(sinks.directory)
    assert {tuple(m["rcpt_tos"]) for m in emails} == {(contact["email"],)}
    assert all(m["text"].startswith("Dear Sara") for m in emails)
    assert {t["to"] for t in texts} == {contact["phone"]}
    assert len(emails) == sum(c == "email" for _, c in sent)
    assert len(texts) == sum(c == "sms" for _, c in sent)
