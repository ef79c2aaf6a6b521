"""Encrypted personal fields give the same read models as the same facts in clear."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from consumers.notifications.projector import build_projector
from consumers.volunteers import PROJECTOR as VOLUNTEERS
from infra.bus import Outgoing, emit
from infra.db import connect, create_pool
from infra.kafka import build_producer
from infra.keys import build_key_service
from infra.sealing import seal_events
from infra.settings import Settings
from schemas.decode import encode_event
from schemas.envelope import Event
from schemas.registry import spec_of
from tests.support import events
from tests.support.personal import clear_hits, personal_values
from tests.support.projectors import create_prefixed_topics, delete_topics, run_until_caught_up
from tests.support.router import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
SOURCE = "partner/org-1"


def world(unique: str) -> list[Event[Any]]:
    """A campaign, an opportunity starting tomorrow, two registrations (one with a profile
    update of its phone and name), and their sign-ups."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    at = [now - dt.timedelta(minutes=10 - n) for n in range(8)]
    starts = now + dt.timedelta(hours=20)
    one, two = f"v1-{unique}", f"v2-{unique}"
    return [
        events.decoded("campaign.launched", f"l-{unique}", at[0], source=SOURCE,
                       campaign_id="cmp-1", org_id="org-1"),
        events.decoded("opportunity.published", f"p-{unique}", at[1], source=SOURCE,
                       opportunity_id="opp-1", campaign_id="cmp-1",
                       starts_at=events.iso(starts), ends_at=events.iso(starts + dt.timedelta(hours=2))),
        events.decoded("volunteer.registered", f"r1-{unique}", at[2], source=SOURCE,
                       volunteer_id=one, **personal_values(unique)),
        events.decoded("volunteer.registered", f"r2-{unique}", at[3], source=SOURCE,
                       volunteer_id=two, family_name=None, language="en", gender="male"),
        events.decoded("volunteer.profile_updated", f"u1-{unique}", at[4], source=SOURCE,
                       data={"volunteer_id": one, "phone": "+97433300011",
                             "given_name": f"Maryam{unique}"}),
        events.decoded("volunteer.signed_up", f"s1-{unique}", at[5], source=SOURCE,
                       volunteer_id=one, opportunity_id="opp-1", campaign_id="cmp-1"),
        events.decoded("volunteer.signed_up", f"s2-{unique}", at[6], source=SOURCE,
                       volunteer_id=two, opportunity_id="opp-1", campaign_id="cmp-1"),
    ]  # fmt: skip


async def test_volunteers_and_notifier_read_models_are_the_same_encrypted_or_clear(
    stack: Settings, unique: str
) -> None:
    """The same facts, published once encrypted and once in clear, project to identical
    volunteers rows, notifier contacts and ledger rows; only the log differs."""
    sealed_prefix, clear_prefix = f"pe.{unique}.", f"pc.{unique}."
    facts = world(unique)
    pool = await create_pool(stack, min_size=1, max_size=1)
    try:
        sealed = await seal_events(build_key_service(stack, pool), facts)
    finally:
        await pool.close()
    notifier = build_projector(stack)
    tables = {"volunteers": ["volunteers"], "notifications": ["contacts", "outbox"]}
    found: dict[str, dict[str, list[dict[str, Any]]]] = {}
    try:
        for prefix, items in ((sealed_prefix, sealed), (clear_prefix, facts)):
            await create_prefixed_topics(stack, prefix)
            await publish_prefixed(stack, prefix, items)
            schemas = {name: f"pd_{name[:5]}_{prefix[1]}_{unique}" for name in tables}
            await run_until_caught_up(
                stack, {"volunteers": VOLUNTEERS, "notifications": notifier}, schemas, prefix,
                group=f"pd-{prefix}",
            )  # fmt: skip
            found[prefix] = await read_tables(stack, schemas, tables)
        log = await read_all(stack, [sealed_prefix + "tatawwu.volunteers"])
        assert len(log) == 3
        assert clear_hits(log, personal_values(unique)) == []
    finally:
        for prefix in (sealed_prefix, clear_prefix):
            await delete_topics(stack, prefix)
    assert found[sealed_prefix] == found[clear_prefix]
    [one, _] = found[sealed_prefix]["volunteers.volunteers"]
    assert (one["given_name"], one["family_name"], one["phone"]) == (
        f"Maryam{unique}",
        None,
        "+97433300011",
    )  # the update's name replaced the whole name
    assert one["email"] == personal_values(unique)["email"]
    assert len(found[sealed_prefix]["notifications.outbox"]) > 4


async def publish_prefixed(settings: Settings, prefix: str, items: list[Event[Any]]) -> None:
    """Each event on its prefixed topic, through the bus as every platform publisher sends."""
    producer = build_producer(settings)
    await producer.start()
    try:
        await emit(producer, [
            Outgoing(prefix + spec_of(e).topic.name, e.subject.encode(), encode_event(e))
            for e in items
        ], 30)  # fmt: skip
    finally:
        await producer.stop()


async def read_tables(
    settings: Settings, schemas: dict[str, str], tables: dict[str, list[str]]
) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables, sorted, without what differs by run (trace ids)."""
    conn = await connect(settings)
    try:
        out = {}
        for name, names in tables.items():
            for table in names:
                rows = await conn.fetch(f'select * from "{schemas[name]}".{table}')
                cleaned = [{k: v for k, v in dict(r).items() if "trace" not in k and
                            k not in ("updated_at", "created_at", "next_attempt_at")}
                           for r in rows]  # fmt: skip
                out[f"{name}.{table}"] = sorted(cleaned, key=repr)
        return out
    finally:
        await conn.close()
