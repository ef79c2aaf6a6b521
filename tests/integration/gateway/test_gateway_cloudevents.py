"""CloudEvents interoperability at the gateway: SDK-made events in both content modes, with
extensions, reach Kafka intact; a W3C traceparent sent in reaches the records and the logs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import orjson
import pytest
from aiokafka.structs import ConsumerRecord
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.v1.event import CloudEvent
from gateway_helpers import Partner, end_offsets, read_since
from structlog.contextvars import merge_contextvars
from structlog.testing import capture_logs

from infra.settings import Settings
from schemas.binding import decode_record
from schemas.decode import encode_event
from schemas.envelope import Event
from schemas.registry import spec_for
from tests.support.personal import opened

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
EVENT_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def sdk_event(partner: Partner, n: int) -> CloudEvent:
    """A `volunteer.registered` made with the official SDK, carrying three extensions."""
    document = partner.event("volunteer.registered", n)
    attributes: dict[str, Any] = {k: v for k, v in document.items() if k != "data"}
    attributes["time"] = dt.datetime.fromisoformat(attributes["time"])
    attributes.update(
        traceparent=EVENT_TRACEPARENT, partitionkey=document["subject"], region="doha"
    )
    return CloudEvent(attributes, document["data"])


async def post_and_read(
    client: httpx.AsyncClient,
    stack: Settings,
    message: ce_http.HTTPMessage,
    partner: Partner,
    event_id: str,
    extra: dict[str, str] | None = None,
) -> ConsumerRecord:
    topic = spec_for("volunteer.registered").topic.name
    before = await end_offsets(stack, [topic])
    headers = {**message.headers, "Authorization": f"Bearer {partner.key}", **(extra or {})}
    response = await client.post("/v1/events", content=message.body, headers=headers)
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": [event_id]}
    [record] = await read_since(stack, before, {event_id})
    return record


@pytest.mark.parametrize("mode", ["structured", "binary"])
async def test_an_sdk_event_with_extensions_reaches_kafka_intact(
    client: httpx.AsyncClient, partner: Partner, stack: Settings, mode: str
) -> None:
    """Structured or binary, the SDK's event lands with its extensions and the CE content type."""
    event = sdk_event(partner, 0 if mode == "structured" else 1)
    if mode == "structured":
        message = ce_http.to_structured_event(event)
    else:
        message = ce_http.to_binary_event(event)
        message.headers["content-type"] = "application/json"
        assert "ce-specversion" in message.headers
    record = await post_and_read(client, stack, message, partner, event.get_id())

    headers = dict(record.headers)
    assert headers["content-type"] == b"application/cloudevents+json"
    assert record.key == event.get_subject().encode()
    value = orjson.loads(record.value)
    assert value["partitionkey"] == event.get_subject()
    assert value["region"] == "doha"
    assert value["traceparent"] == EVENT_TRACEPARENT
    # The event's own trace is on its record, for the consumers to continue.
    assert headers["traceparent"] == EVENT_TRACEPARENT.encode()
    decoded = decode_record(record.value, record.headers)
    assert isinstance(decoded, Event)
    assert decoded.extensions == {"partitionkey": event.get_subject(), "region": "doha"}


async def test_binary_and_structured_twins_give_the_same_record_value(
    client: httpx.AsyncClient, partner: Partner, stack: Settings
) -> None:
    """The same SDK event sent in each mode is written to Kafka as the same bytes (once its
    encrypted personal fields are opened: each encryption draws its own nonces)."""
    event = sdk_event(partner, 2)
    structured = await post_and_read(
        client, stack, ce_http.to_structured_event(event), partner, event.get_id()
    )
    binary = ce_http.to_binary_event(event)
    binary.headers["content-type"] = "application/json"
    again = await post_and_read(client, stack, binary, partner, event.get_id())
    assert again.value != structured.value  # encrypted twice
    first, second = await opened(stack, structured), await opened(stack, again)
    assert encode_event(second) == encode_event(first)


async def test_a_binary_event_is_validated_like_a_structured_one(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """A bad extension value, an unparsable ce-time or a missing body: 422 naming the field."""
    event = sdk_event(partner, 3)
    message = ce_http.to_binary_event(event)
    base = {**message.headers, "content-type": "application/json",
            "Authorization": f"Bearer {partner.key}"}  # fmt: skip
    cases = [
        ({"ce-region": "doha%E2%80%AE"}, message.body, "region"),  # percent-encoded U+202E
        ({"ce-time": "yesterday"}, message.body, "time"),
        ({}, b"", "data"),
        ({"ce-Bad_Name": "x"}, message.body, "bad_name"),
    ]
    for extra, body, path in cases:
        response = await client.post("/v1/events", content=body, headers={**base, **extra})
        assert response.status_code == 422, response.text
        problem = response.json()
        assert path in [error["path"] for error in problem["errors"]], problem
        assert "\u202e" not in response.text


async def test_a_traceparent_sent_in_is_on_the_records_and_the_log_lines(
    client: httpx.AsyncClient, partner: Partner, stack: Settings
) -> None:
    """The gateway continues the caller's trace: same trace id, its own span id."""
    batch = [partner.event("volunteer.registered", n) for n in (10, 11)]
    topic = spec_for("volunteer.registered").topic.name
    before = await end_offsets(stack, [topic])
    headers = {**partner.headers, "traceparent": TRACEPARENT, "tracestate": "tw=1"}
    with capture_logs(processors=[merge_contextvars]) as logs:
        response = await client.post("/v1/events", content=orjson.dumps(batch), headers=headers)
    assert response.status_code == 202, response.text
    records = await read_since(stack, before, {d["id"] for d in batch})
    assert len(records) == 2
    for record in records:
        sent = dict(record.headers)
        version, trace_id, span_id, flags = sent["traceparent"].decode().split("-")
        assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
        assert span_id != "00f067aa0ba902b7"  # a child span of the caller's
        assert sent["tracestate"] == b"tw=1"
        assert sent["content-type"] == b"application/cloudevents+json"
        # Deprecated, kept one release: the trace id stands in for the correlation id.
        assert sent["correlation_id"] == TRACE_ID.encode()
    [summary] = [entry for entry in logs if entry["event"] == "request_handled"]
    assert summary["trace_id"] == TRACE_ID


async def test_without_a_traceparent_the_gateway_starts_a_trace(
    client: httpx.AsyncClient, partner: Partner, stack: Settings
) -> None:
    """No traceparent (or a malformed one): a new trace, the same on the record and the log."""
    event = partner.event("volunteer.registered", 12)
    topic = spec_for("volunteer.registered").topic.name
    before = await end_offsets(stack, [topic])
    headers = {**partner.headers, "traceparent": "00-not-a-trace"}
    with capture_logs(processors=[merge_contextvars]) as logs:
        response = await client.post("/v1/events", content=orjson.dumps(event), headers=headers)
    assert response.status_code == 202, response.text
    [record] = await read_since(stack, before, {event["id"]})
    trace_id = dict(record.headers)["traceparent"].decode().split("-")[1]
    assert len(trace_id) == 32
    assert trace_id != "0" * 32
    [summary] = [entry for entry in logs if entry["event"] == "request_handled"]
    assert summary["trace_id"] == trace_id
    assert response.headers["x-correlation-id"] == trace_id
