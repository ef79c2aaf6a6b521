"""Accepted requests: 202 only after Kafka acked, records on the right topic under the right key."""

from __future__ import annotations

import httpx
import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner
from fastapi import FastAPI
from gateway_helpers import Partner, end_offsets, new_partner, read_since
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from infra.settings import Settings
from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.registry import spec_for

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

MIXED = (
    "organization.registered",
    "campaign.launched",
    "opportunity.published",
    "volunteer.registered",
    "volunteer.signed_up",
    "volunteer.checked_in",
    "volunteer.hours_verified",
)
TOPICS = sorted({spec_for(t).topic.name for t in MIXED})


async def test_a_mixed_batch_lands_on_each_topic_keyed_by_subject(
    client: httpx.AsyncClient, partner: Partner, stack: Settings
) -> None:
    """Each event of a 202 batch is on its registry topic, keyed by its subject, version stamped."""
    batch = [partner.event(t, n) for n, t in enumerate(MIXED)]
    for document in batch:
        document.pop("dataschema")  # absent means current: the gateway must stamp it
    before = await end_offsets(stack, TOPICS)
    headers = {**partner.headers, "X-Correlation-ID": f"corr-{partner.unique}"}
    response = await client.post("/v1/events", content=orjson.dumps(batch), headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": [d["id"] for d in batch]}
    assert response.headers["x-correlation-id"] == f"corr-{partner.unique}"

    records = await read_since(stack, before, {d["id"] for d in batch})
    by_id = {orjson.loads(r.value)["id"]: r for r in records}
    assert len(records) == len(batch)
    for document in batch:
        record = by_id[document["id"]]
        spec = spec_for(document["type"])
        assert record.topic == spec.topic.name
        assert record.key == document["subject"].encode()
        # The partition a plain aiokafka/Java producer would choose for that key.
        partitions = list(range(spec.topic.partitions))
        assert record.partition == DefaultPartitioner()(record.key, partitions, partitions)
        decoded = decode_event(record.value)
        assert isinstance(decoded, Event)
        assert orjson.loads(record.value)["dataschema"] == spec.dataschema
        headers_of = dict(record.headers)
        assert headers_of["correlation_id"] == f"corr-{partner.unique}".encode()
        assert headers_of["content-type"] == b"application/cloudevents+json"


async def test_a_single_event_is_accepted_and_a_correlation_id_is_created(
    client: httpx.AsyncClient, partner: Partner, stack: Settings
) -> None:
    """One CloudEvent (not an array) answers 202 with its id and a fresh correlation id."""
    event = partner.event("volunteer.registered")
    topic = spec_for("volunteer.registered").topic.name
    before = await end_offsets(stack, [topic])
    headers = {**partner.headers, "Content-Type": "application/cloudevents+json"}
    response = await client.post("/v1/events", content=orjson.dumps(event), headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": [event["id"]]}
    correlation = response.headers["x-correlation-id"]
    [record] = await read_since(stack, before, {event["id"]})
    assert record.key == event["subject"].encode()
    assert dict(record.headers)["correlation_id"] == correlation.encode()


async def test_re_posting_an_accepted_event_is_accepted_again(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """A retry with the same id gets 202 again: downstream deduplicates by id."""
    body = orjson.dumps([partner.event("volunteer.registered")])
    first = await client.post("/v1/events", content=body, headers=partner.headers)
    second = await client.post("/v1/events", content=body, headers=partner.headers)
    assert (first.status_code, second.status_code) == (202, 202)
    assert first.json() == second.json()


async def test_a_partner_emits_for_a_campaign_it_launched_earlier(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """The launch claims the campaign; later requests about it are allowed."""
    launch = orjson.dumps(
        [partner.event("campaign.launched"), partner.event("opportunity.published")]
    )
    assert (
        await client.post("/v1/events", content=launch, headers=partner.headers)
    ).status_code == 202
    later = orjson.dumps(
        [partner.event("volunteer.signed_up", 1), partner.event("campaign.closed")]
    )
    response = await client.post("/v1/events", content=later, headers=partner.headers)
    assert response.status_code == 202, response.text


async def test_an_admin_key_emits_for_any_organisation_and_campaign(
    client: httpx.AsyncClient, gateway: FastAPI, partner: Partner, unique: str
) -> None:
    """A platform-admin key may use another org's source, campaign and a platform source."""
    admin = await new_partner(gateway, f"admin-{unique}", admin=True)
    launch = orjson.dumps(
        [partner.event("campaign.launched"), partner.event("opportunity.published")]
    )
    assert (
        await client.post("/v1/events", content=launch, headers=partner.headers)
    ).status_code == 202
    notification = partner.event("notification.sent")
    notification["source"] = "platform/notifications"
    batch = [
        partner.event("volunteer.checked_in"),
        partner.event("organization.suspended"),
        notification,
    ]
    response = await client.post("/v1/events", content=orjson.dumps(batch), headers=admin.headers)
    assert response.status_code == 202, response.text


async def test_health_is_live_and_ready_reports_kafka_and_postgres(
    client: httpx.AsyncClient,
) -> None:
    """/health answers 200 (liveness); /ready answers 200 with an ok check for each dependency."""
    live = await client.get("/health")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    checks = response.json()["checks"]
    assert checks["kafka"]["ok"]
    assert checks["postgres"]["ok"]


async def test_metrics_count_requests_events_and_rejections(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """/metrics exposes requests by status, accepted events by type and rejections by reason."""
    body = orjson.dumps(
        [partner.event("volunteer.registered"), partner.event("volunteer.consent_changed")]
    )
    await client.post("/v1/events", content=body, headers=partner.headers)
    await client.post("/v1/events", content=b"[", headers=partner.headers)
    text = (await client.get("/metrics")).text
    assert 'tatawwu_gateway_requests_total{status="202"}' in text
    assert 'tatawwu_gateway_events_accepted_total{type="volunteer.consent_changed"}' in text
    assert 'tatawwu_gateway_requests_rejected_total{reason="malformed"}' in text
    assert "tatawwu_gateway_produce_seconds_bucket" in text


async def test_one_summary_line_per_request_and_no_personal_data_in_logs(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """The request ends with request_handled status/events/duration; names, phones never logged."""
    batch = [partner.event("volunteer.registered", n) for n in range(3)]
    with capture_logs(processors=[merge_contextvars]) as logs:
        response = await client.post(
            "/v1/events", content=orjson.dumps(batch), headers=partner.headers
        )
    assert response.status_code == 202
    [summary] = [entry for entry in logs if entry["event"] == "request_handled"]
    assert summary["status"] == 202
    assert summary["events"] == 3
    assert summary["key_id"] == partner.key_id
    assert summary["org"] == partner.org
    assert summary["duration_ms"] >= 0
    logged = repr(logs)  # unredacted: the gateway itself must not log personal data
    for personal in ("Fatima", "Al-Kuwari", "+97455501234", "example.qa"):
        assert personal not in logged
