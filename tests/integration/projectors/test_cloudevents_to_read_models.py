"""Events made with the official `cloudevents` SDK reach the read models, and so do traces.

Through the gateway (structured and binary HTTP, with extensions) and straight to Kafka
(binary mode: `ce_` headers, the value the data), SDK events land in the campaigns and
volunteers tables; the trace a record carries (the gateway's, continued from the caller,
or the event's own) is named in the projectors' `batch_applied` lines.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from consumers.campaigns import PROJECTOR as CAMPAIGNS
from consumers.volunteers import PROJECTOR as VOLUNTEERS
from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from schemas.registry import spec_for
from tests.integration.hostile.platform import Platform
from tests.support.gateway import Partner, gateway, new_partner, start_at_end
from tests.support.projectors import create_prefixed_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
EVENT_TRACE = "0af7651916cd43dd8448eb211c80319c"


def traceparent(trace_id: str) -> str:
    return f"00-{trace_id}-00f067aa0ba902b7-01"


def campaign(partner: Partner) -> dict[str, Any]:
    return partner.document(
        "campaign.launched", f"evt-{partner.unique}-launch",
        campaign_id=f"cmp-{partner.unique}", org_id=partner.org,
    )  # fmt: skip


def volunteer(partner: Partner, n: int) -> dict[str, Any]:
    return partner.document(
        "volunteer.registered", f"evt-{partner.unique}-reg-{n}",
        volunteer_id=f"vol-{partner.unique}-{n}",
    )  # fmt: skip


def extensions(document: dict[str, Any], trace_id: str) -> dict[str, Any]:
    """The extensions an SDK user sends: a trace, a partition key and one we do not know."""
    return {"traceparent": traceparent(trace_id), "partitionkey": document["subject"],
            "region": "doha"}  # fmt: skip


def traces_logged(logs: list[dict[str, Any]], projector: str) -> set[str]:
    return {
        trace_id
        for line in logs
        if line["event"] == "batch_applied" and line.get("projector") == projector
        for trace_id in line["trace_ids"]
    }


async def read_models(settings: Settings, tag: str, partner: Partner) -> tuple[Any, Any]:
    conn = await connect(settings)
    try:
        campaigns = await conn.fetch(
            f'select campaign_id, org_id from "{tag}_campaigns".campaigns where campaign_id = $1',
            f"cmp-{partner.unique}",
        )
        volunteers = await conn.fetch(
            f'select volunteer_id from "{tag}_volunteers".volunteers'
            " where volunteer_id like $1 order by 1",
            f"vol-{partner.unique}-%",
        )
        dead = await conn.fetchval(
            f'select count(*) from "{tag}_volunteers"._deadletters'
        ) + await conn.fetchval(f'select count(*) from "{tag}_campaigns"._deadletters')
    finally:
        await conn.close()
    assert dead == 0
    return campaigns, volunteers


async def test_sdk_events_through_the_gateway_reach_the_read_models_with_their_traces(
    stack: Settings, unique: str
) -> None:
    """Structured and binary over HTTP, extensions kept; both traces in `batch_applied`."""
    tag = f"ce_gw_{unique}"
    projectors = {"campaigns": CAMPAIGNS, "volunteers": VOLUNTEERS}
    conn = await connect(stack)
    try:
        for name, projector in projectors.items():
            await start_at_end(conn, stack, projector, f"{tag}_{name}")
    finally:
        await conn.close()
    async with gateway(stack) as (app, client):
        partner = await new_partner(app, unique)
        auth = {"Authorization": f"Bearer {partner.key}"}
        launch, first, second = campaign(partner), volunteer(partner, 1), volunteer(partner, 2)
        # Structured and binary SDK events, each carrying its own trace (an extension).
        for document, mode in ((launch, "structured"), (first, "binary")):
            event = partner.sdk_event(document, **extensions(document, EVENT_TRACE))
            if mode == "structured":
                message = ce_http.to_structured_event(event)
            else:
                message = ce_http.to_binary_event(event)
                message.headers["content-type"] = "application/json"
            response = await client.post(
                "/v1/events", content=message.body, headers={**message.headers, **auth}
            )
            assert response.status_code == 202, response.text
        # No trace of its own: the gateway continues the caller's W3C traceparent.
        response = await client.post("/v1/events", content=orjson.dumps(second), headers={
            **auth, "Content-Type": "application/json", "traceparent": traceparent(CALLER_TRACE),
        })  # fmt: skip
        assert response.status_code == 202, response.text

    conn = await connect(stack)
    try:
        with capture_logs(processors=[merge_contextvars]) as logs:
            async with Platform(stack, projectors, "", tag) as platform:
                await platform.caught_up(conn, wait_s=60)
    finally:
        await conn.close()
    campaigns, volunteers = await read_models(stack, tag, partner)
    assert [tuple(r) for r in campaigns] == [(f"cmp-{unique}", partner.org)]
    assert [r[0] for r in volunteers] == [f"vol-{unique}-1", f"vol-{unique}-2"]
    assert traces_logged(logs, "volunteers") >= {EVENT_TRACE, CALLER_TRACE}
    assert EVENT_TRACE in traces_logged(logs, "campaigns")


async def test_sdk_events_sent_straight_to_kafka_in_binary_mode_reach_the_read_models(
    stack: Settings, unique: str
) -> None:
    """`ce_` headers and the data as value (the SDK's Kafka binding): applied, trace logged."""
    prefix, tag = f"ce.{unique}.", f"ce_kafka_{unique}"
    await create_prefixed_topics(stack, prefix)
    partner = Partner(f"org-{unique}", "", unique)
    documents = [campaign(partner), volunteer(partner, 1), volunteer(partner, 2)]
    producer = build_producer(stack)
    await producer.start()
    try:
        for document in documents:
            event = partner.sdk_event(document, **extensions(document, EVENT_TRACE))
            message = ce_kafka.to_binary_event(event)
            assert "ce_specversion" in message.headers
            topic = prefix + spec_for(document["type"]).topic.name
            await producer.send_and_wait(
                topic, message.value, key=document["subject"].encode(),
                headers=list(message.headers.items()),
            )  # fmt: skip
    finally:
        await producer.stop()

    projectors = {"campaigns": CAMPAIGNS, "volunteers": VOLUNTEERS}
    conn = await connect(stack)
    try:
        with capture_logs(processors=[merge_contextvars]) as logs:
            async with Platform(stack, projectors, prefix, tag) as platform:
                await platform.caught_up(conn, wait_s=60)
    finally:
        await conn.close()
    campaigns, volunteers = await read_models(stack, tag, partner)
    assert [tuple(r) for r in campaigns] == [(f"cmp-{unique}", partner.org)]
    assert [r[0] for r in volunteers] == [f"vol-{unique}-1", f"vol-{unique}-2"]
    # No `traceparent` header: the event's own (`ce_traceparent`) names the trace.
    assert EVENT_TRACE in traces_logged(logs, "volunteers")


async def test_lines_about_dead_and_parked_records_name_each_records_trace(
    stack: Settings, unique: str
) -> None:
    """Undecodable, refused (not the owner) and parked records: their trace on their line."""
    prefix, tag = f"ce.{unique}.", f"ce_dead_{unique}"
    await create_prefixed_topics(stack, prefix)
    owner, other = Partner(f"org-a{unique}", "", unique), Partner(f"org-b{unique}", "", unique)
    opportunity = "opportunity.published"
    records = [  # (document or raw bytes, trace id)
        (campaign(owner), "1" * 32),
        (b"{not json", "2" * 32),
        (other.document(opportunity, f"evt-{unique}-steal", campaign_id=f"cmp-{unique}",
                        opportunity_id=f"opp-{unique}-1"), "3" * 32),
        (owner.document(opportunity, f"evt-{unique}-early", campaign_id=f"cmp-{unique}-later",
                        opportunity_id=f"opp-{unique}-2"), "4" * 32),
    ]  # fmt: skip
    producer = build_producer(stack)
    await producer.start()
    try:
        for body, trace_id in records:
            value = body if isinstance(body, bytes) else orjson.dumps(body)
            topic = spec_for(opportunity).topic.name
            headers = [("content-type", b"application/cloudevents+json"),
                       ("traceparent", traceparent(trace_id).encode())]  # fmt: skip
            await producer.send_and_wait(prefix + topic, value, key=b"k", headers=headers)
    finally:
        await producer.stop()

    conn = await connect(stack)
    try:
        with capture_logs(processors=[merge_contextvars]) as logs:
            async with Platform(stack, {"campaigns": CAMPAIGNS}, prefix, tag) as platform:
                await platform.caught_up(conn, wait_s=60)
    finally:
        await conn.close()
    dead = [line for line in logs if line["event"] == "dead_lettered"]
    assert dead
    assert dead[0]["trace_id"] == "2" * 32  # the first dead record's
    assert {t for line in dead for t in line["trace_ids"]} == {"2" * 32, "3" * 32}
    [parked] = [line for line in logs if line["event"] == "facts_parked"]
    assert parked["trace_id"] == "4" * 32
    assert parked["count"] == 1
