"""The sender's view of contacts: consent holds until the notifier applied their event,
and undeliverable addresses until the contact's address changes (real PostgreSQL)."""

from __future__ import annotations

import pytest

from consumers.notifications import build_projector
from consumers.notifications.feedback import hold_contacts
from consumers.runtime import bookkeeping
from infra.db import connect
from infra.settings import Settings

pytestmark = [pytest.mark.postgres]


async def test_a_hold_refuses_its_channel_until_the_notifier_has_the_event_itself(
    stack: Settings, unique: str
) -> None:
    """STOP held: SMS refused; once the STOP event is in the notifier's history, the
    contact's own consent (whatever later events made it) decides again."""
    schema = f"ntf_hold_{unique}"
    conn = await connect(stack)
    try:
        await bookkeeping.prepare_schema(conn, build_projector(stack), schema)
        await conn.execute(f'set search_path to "{schema}"')
        contacts = {
            "v-1": {"volunteer_id": "v-1", "email": "A@Example.org",
                    "consent": {"sms": True, "email": True}},
            "v-2": {"volunteer_id": "v-2", "email": "b@example.org",
                    "consent": {"sms": True, "email": True}},
        }  # fmt: skip
        assert await hold_contacts(conn, contacts) == contacts  # nothing held: unchanged
        await conn.execute(
            "insert into consent_holds (volunteer_id, channel, event_id, source)"
            " values ('v-1', 'sms', 'reply-1.v-1', 'platform/replies')"
        )
        await conn.execute(
            "insert into undeliverable (channel, address, reason) values"
            " ('email', 'a@example.org', '550')"
        )
        held = await hold_contacts(conn, contacts)
        assert held["v-1"]["consent"] == {"sms": False, "email": True}
        assert held["v-1"]["email"] is None  # bounced for good (matched case-blind)
        assert held["v-2"] == contacts["v-2"]
        assert contacts["v-1"]["consent"]["sms"] is True  # the caller's dicts are not changed
        # The notifier applied the STOP itself: the hold has done its job.
        await conn.execute(
            "insert into history (event_id, source, aggregate, aggregate_id, event_time,"
            " event_type, data) values ('reply-1.v-1', 'platform/replies', 'volunteer', 'v-1',"
            " now(), 'volunteer.consent_changed', '{}'::jsonb)"
        )
        # Another address: sent to again.
        contacts["v-1"] = {**contacts["v-1"], "email": "a.new@example.org"}
        assert await hold_contacts(conn, contacts) == contacts
    finally:
        await conn.close()
