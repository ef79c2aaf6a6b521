"""Kafka records in either CloudEvents content mode decode to the same event (`decode_record`)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent

from schemas import DecodeError, Event, decode_event
from schemas.binding import decode_record, is_binary_kafka, structured_from_http
from schemas.decode import MAX_EVENT_BYTES
from schemas.errors import Reason
from schemas.examples import example

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def sdk_event(**extensions: Any) -> CloudEvent:
    """A `volunteer.checked_in` made with the official SDK."""
    document = example("volunteer.checked_in")
    attributes = {k: v for k, v in document.items() if k != "data"}
    attributes["time"] = dt.datetime.fromisoformat(attributes["time"])
    return CloudEvent({**attributes, **extensions}, document["data"])


def record(message: ce_kafka.KafkaMessage) -> tuple[bytes, list[tuple[str, bytes]]]:
    return message.value, list(message.headers.items())


def test_an_sdk_binary_record_decodes_like_its_structured_twin() -> None:
    """Binary (ce_ headers) and structured (one JSON value) give equal events, extensions kept."""
    event = sdk_event(traceparent=TRACEPARENT, partitionkey="vol-10077", region="doha")
    binary = decode_record(*record(ce_kafka.to_binary_event(event)))
    structured = decode_record(*record(ce_kafka.to_structured_event(event)))
    assert isinstance(binary, Event), binary
    assert binary == structured
    assert binary.traceparent == TRACEPARENT
    assert binary.extensions == {"partitionkey": "vol-10077", "region": "doha"}


def test_a_structured_record_decodes_exactly_as_decode_event() -> None:
    """No ce_ header: the value goes to `decode_event` untouched (today's projector path)."""
    value = json.dumps(example("volunteer.checked_in")).encode()
    headers = [("content-type", b"application/cloudevents+json"), ("traceparent", b"x")]
    assert not is_binary_kafka(headers)
    assert decode_record(value, headers) == decode_event(value)
    assert decode_record(value, None) == decode_event(value)


def test_the_record_key_does_not_become_a_partitionkey() -> None:
    """Unlike the SDK's own reader, a key alone adds no `partitionkey` attribute."""
    message = ce_kafka.to_binary_event(sdk_event())
    assert decode_record(*record(message)).extensions == {}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("header", "value", "path"),
    [
        ("ce_time", b"yesterday", "time"),
        ("ce_time", b"2025-03-14T09:30:00", "time"),  # no offset
        ("ce_region", b"doha\xe2\x80\xae", "region"),
        ("ce_id", b"-bad", "id"),
    ],
)
def test_binary_records_obey_the_same_rules(header: str, value: bytes, path: str) -> None:
    """A bad attribute in a header is reported at its name, as in structured mode."""
    message = ce_kafka.to_binary_event(sdk_event())
    headers = {**message.headers, header: value}
    result = decode_record(message.value, list(headers.items()))
    assert isinstance(result, DecodeError)
    assert path in [e.path for e in result.errors], result.summary()


def test_hostile_binary_records_are_bounded_decode_errors() -> None:
    """Too many headers, a huge value, non-UTF-8 headers, no data: errors, never exceptions."""
    message = ce_kafka.to_binary_event(sdk_event())
    many = list(message.headers.items()) + [(f"ce_x{n}", b"1") for n in range(5000)]
    assert decode_record(message.value, many).errors[0].rule == "too_many_attributes"  # type: ignore[union-attr]
    huge = decode_record(b"{" + b" " * MAX_EVENT_BYTES + b"}", list(message.headers.items()))
    assert huge.reason is Reason.TOO_LARGE  # type: ignore[union-attr]
    bad_utf8 = decode_record(message.value, [*message.headers.items(), ("ce_region", b"\xff")])
    assert isinstance(bad_utf8, DecodeError)
    empty = decode_record(b"", list(message.headers.items()))
    assert isinstance(empty, DecodeError)
    assert "data" in [e.path for e in empty.errors]
    not_json = decode_record(b"{nope", list(message.headers.items()))
    assert isinstance(not_json, DecodeError)
    assert not_json.reason is Reason.INVALID_JSON


def test_http_binary_headers_are_percent_decoded_by_the_sdk() -> None:
    """`ce-*` values are percent-decoded; `content-type` parameters are ignored."""
    document = example("volunteer.checked_in")
    headers = {f"ce-{k}": str(v) for k, v in document.items() if k != "data"}
    headers |= {"ce-region": "al%20rayyan", "content-type": "application/json; charset=utf-8"}
    built = structured_from_http(headers, json.dumps(document["data"]).encode())
    assert isinstance(built, bytes)
    event = decode_event(built)
    assert isinstance(event, Event), event
    assert event.extensions == {"region": "al rayyan"}
