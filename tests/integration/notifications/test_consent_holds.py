"""The sender's view of contacts: consent holds until the notifier applied their event,
and undeliverable addresses until the contact's address changes (real PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from consumers.notifications import build_projector
from consumers.notifications.feedback import hold_contacts
from consumers.runtime import bookkeeping
from infra.db import connect
from infra.erasure import erased_event
from infra.settings import Settings
from schemas.decode import decode_event
from tests.integration.ordering.replay import apply_batch
from tests.support.events import event

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


async def test_an_erasure_forgets_the_bounced_addresses_no_contact_has(
    stack: Settings, unique: str
) -> None:
    """Two volunteers whose addresses bounced, and a third address nobody has: erasing the
    first removes its address from `undeliverable` (and the one of nobody); the second's
    stays, so nothing is sent there."""
    projector, schema = build_projector(stack), f"ntf_undeliverable_{unique}"
    people = {"v-1": "A@Example.org", "v-2": "b@example.org"}
    registered = [
        decode_event(orjson.dumps(event(
            "volunteer.registered", f"reg-{volunteer}", source="platform/test",
            volunteer_id=volunteer, email=email,
        )))
        for volunteer, email in people.items()
    ]  # fmt: skip
    conn = await connect(stack)
    try:
        await bookkeeping.prepare_schema(conn, projector, schema)
        await apply_batch(conn, projector, schema, registered)
        await conn.execute(
            f'insert into "{schema}".undeliverable (channel, address, reason) values'
            " ('email', 'a@example.org', '550'), ('email', 'b@example.org', '550'),"
            " ('email', 'gone@example.org', '550')"
        )
        erased = erased_event("v-1", dt.datetime.now(dt.UTC))
        await apply_batch(conn, projector, schema, [erased])
        kept = await conn.fetch(f'select address from "{schema}".undeliverable')
        assert [r["address"] for r in kept] == ["b@example.org"]
    finally:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()
