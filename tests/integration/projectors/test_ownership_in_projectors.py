"""The ownership rules inside every projector, against the real Kafka and PostgreSQL.

Facts are applied one per batch (max_records=1) in the worst order: the honest sign-ups
and check-ins first (with a hostile record reusing one of their ids ahead of them), the
claims they need (launch, publication) after them; then, once those are applied, a
hostile partner names the honest campaign and opportunity in every way it can.

(Two publications of one opportunity id under two campaigns, both sent straight to Kafka,
land on different partitions: whichever a projector reads first binds it. The gateway,
and the Kafka-ingress router of the next issue, bind at entry in arrival order; the test
therefore sends the hostile publication after the honest one was applied.)
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from schemas.registry import spec_for
from tatawwu.manifest import PROJECTORS
from tests.support.events import event, known_fields
from tests.support.projectors import create_prefixed_topics, run_until_caught_up

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

HONEST, HOSTILE = "org-honest", "org-hostile"
PAIR = {"campaign_id": "cmp-h", "opportunity_id": "opp-h", "volunteer_id": "vol-h"}


def fact(event_type: str, event_id: str, org: str, **data: Any) -> dict[str, Any]:
    """A valid example event from `partner/<org>` at one fixed time, the ids given laid over it."""
    fields = known_fields(event_type, data)
    return event(event_type, event_id, "2026-05-01T10:00:00Z", source=f"partner/{org}", **fields)


HOSTILE_CAMPAIGN = {"campaign_id": "cmp-x", "opportunity_id": "opp-h", "volunteer_id": "vol-h"}


def honest_stream() -> list[dict[str, Any]]:
    """The honest facts before their claims, behind a hostile record reusing an id."""
    hostile_campaign = HOSTILE_CAMPAIGN
    return [
        # A hostile record arrives first reusing the id of an honest sign-up (another source).
        fact("volunteer.signed_up", "evt-1", HOSTILE, **hostile_campaign),
        fact("volunteer.signed_up", "evt-1", HONEST, **PAIR),
        fact("volunteer.checked_in", "evt-2", HONEST, **PAIR),
        fact("volunteer.hours_verified", "evt-3", HONEST, **PAIR),
        # The claims arrive last.
        fact("campaign.launched", "evt-4", HONEST, campaign_id="cmp-h", org_id=HONEST),
        fact("opportunity.published", "evt-5", HONEST, **PAIR),
    ]


def hostile_stream() -> tuple[list[dict[str, Any]], dict[str, int]]:
    """What the hostile partner tries afterwards, and the refusals expected (rule -> count)."""
    hostile_campaign = HOSTILE_CAMPAIGN
    stream = [
        # The hostile partner launches its own campaign and names the honest opportunity.
        fact("campaign.launched", "evt-x1", HOSTILE, campaign_id="cmp-x", org_id=HOSTILE),
        fact("opportunity.cancelled", "evt-x2", HOSTILE, **hostile_campaign),
        fact("volunteer.signup_withdrawn", "evt-x3", HOSTILE, **hostile_campaign),
        # ... and the honest campaign itself, under the honest ids.
        fact("volunteer.signup_withdrawn", "evt-x4", HOSTILE, **PAIR),
        fact("campaign.closed", "evt-x5", HOSTILE, campaign_id="cmp-h"),
        # Published under its own campaign after the honest one: refused too.
        fact("opportunity.published", "evt-x6", HOSTILE, **hostile_campaign),
    ]
    refused = {"opportunity_campaign": 4, "campaign_owner": 2}
    return stream, refused


async def test_parked_facts_are_applied_once_their_claims_arrive_and_foreign_ones_refused(
    stack: Settings, unique: str
) -> None:
    """Honest facts sent before their claims count; every hostile fact is a dead letter."""
    prefix = f"own.{unique}."
    await create_prefixed_topics(stack, prefix)
    attacks, refused = hostile_stream()
    projectors = {name: PROJECTORS[name] for name in ("campaigns", "volunteers", "participation")}
    schemas = {name: f"own_{name}_{unique}" for name in projectors}
    producer = build_producer(stack)
    await producer.start()
    try:
        for stream in (honest_stream(), attacks):
            for document in stream:
                topic = prefix + spec_for(document["type"]).topic.name
                await producer.send_and_wait(
                    topic, orjson.dumps(document), key=document["subject"].encode()
                )
            await run_until_caught_up(
                stack, projectors, schemas, prefix, group=f"own-{unique}", max_records=1
            )
    finally:
        await producer.stop()
    conn = await connect(stack)
    try:
        for name, schema in schemas.items():
            row = await conn.fetchrow(
                f'select * from "{schema}".participations where volunteer_id = $1'
                " and opportunity_id = $2",
                "vol-h",
                "opp-h",
            )
            assert row is not None, name
            assert (row["signup_status"], row["campaign_id"]) == ("signed_up", "cmp-h"), name
            assert row["checked_in_at"] is not None, name
            assert row["hours"] is not None, name
            assert await conn.fetchval(f'select count(*) from "{schema}"._parked') == 0, name
            dead = await conn.fetch(f'select reason, detail from "{schema}"._deadletters')
            rules: dict[str, int] = {}
            for d in dead:
                assert d["reason"] == "not_owner", (name, dict(d))
                rule = d["detail"].split(" at ", 1)[0]
                rules[rule] = rules.get(rule, 0) + 1
            expected = dict(refused)
            if name != "campaigns":  # campaign.closed, opportunity.cancelled: not applied there
                expected["campaign_owner"] -= 1
                expected["opportunity_campaign"] -= 1
            assert rules == expected, name
        campaigns = f'"{schemas["campaigns"]}"'
        status = await conn.fetchval(
            f"select status from {campaigns}.opportunities where opportunity_id = 'opp-h'"
        )
        assert status == "active"
        closed = await conn.fetchval(
            f"select status from {campaigns}.campaigns where campaign_id = 'cmp-h'"
        )
        assert closed == "active"
    finally:
        await conn.close()


@pytest.mark.parametrize("batch", [1, 5000])
async def test_a_duplicate_identity_never_applies_its_content_whatever_the_batches(
    stack: Settings, unique: str, batch: int
) -> None:
    """A re-sent identity with other content changes nothing, in its own batch or not."""
    prefix = f"dup.{unique}."
    await create_prefixed_topics(stack, prefix)
    other = {**PAIR, "volunteer_id": "vol-o"}
    stream = [
        fact("campaign.launched", "d-1", HONEST, campaign_id="cmp-h", org_id=HONEST),
        fact("opportunity.published", "d-2", HONEST, **PAIR),
        fact("volunteer.checked_in", "d-3", HONEST, **PAIR, at="2026-05-01T10:00:00Z"),
        # The same identity again, claiming an earlier check-in: a duplicate, never applied.
        fact("volunteer.checked_in", "d-3", HONEST, **PAIR, at="2026-05-01T08:00:00Z"),
        fact("volunteer.checked_in", "d-4", HONEST, **other, at="2026-05-01T09:00:00Z"),
    ]
    producer = build_producer(stack)
    await producer.start()
    try:
        for document in stream:
            topic = prefix + spec_for(document["type"]).topic.name
            await producer.send_and_wait(
                topic, orjson.dumps(document), key=document["subject"].encode()
            )
    finally:
        await producer.stop()
    schema = f"dup_campaigns_{unique}"
    await run_until_caught_up(
        stack, {"campaigns": PROJECTORS["campaigns"]}, {"campaigns": schema}, prefix,
        group=f"dup-{unique}", max_records=batch,
    )  # fmt: skip
    conn = await connect(stack)
    try:
        rows = await conn.fetch(
            f'select volunteer_id, checked_in_at from "{schema}".participations'
            " order by volunteer_id"
        )
        assert [(r["volunteer_id"], r["checked_in_at"].isoformat()) for r in rows] == [
            ("vol-h", "2026-05-01T10:00:00+00:00"),
            ("vol-o", "2026-05-01T09:00:00+00:00"),
        ]
        assert await conn.fetchval(f'select duplicates from "{schema}"._stats') == 1
    finally:
        await conn.close()
