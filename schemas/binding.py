"""CloudEvents protocol bindings on the way in: binary content mode to the structured event.

Partners may send an event in binary content mode: its attributes in `ce-*` HTTP headers
(`ce_*` Kafka headers) and its `data` as the body or record value. The official
`cloudevents` SDK reads the headers (prefixes, percent-decoding, `content-type` as
`datacontenttype`); the attributes and the untouched body bytes are then put together into
one structured JSON document that goes through `decode_event`, so both modes obey exactly
the same rules, limits and error messages. Structured mode is `decode_event` itself.

    event = decode_record(record.value, record.headers)   # a projector, for any record
    document = structured_from_http(headers, body)        # the gateway, binary mode
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from pydantic_core import to_json

from schemas.decode import MAX_EVENT_BYTES, decode_event
from schemas.envelope import MAX_ATTRIBUTES, Event
from schemas.errors import DecodeError, FieldError, Reason

HTTP_PREFIX = "ce-"
KAFKA_PREFIX = "ce_"
# `name.lower().startswith("ce_")` without building a lowered copy of every header name:
# one C call per header on the projectors' hot path (see `decode_record`).
_KAFKA_PREFIXES = ("ce_", "CE_", "Ce_", "cE_")
# The header the emit function writes first on every record: structured mode, by the spec.
_STRUCTURED = ("content-type", b"application/cloudevents+json")
_TIME_RULE = "format: must be an RFC 3339 date-time with an offset, e.g. 2025-03-21T08:02:15Z"
_DATA_RULE = "unknown_field: `data` travels as the body in binary mode, not as a header"


class _RawData(JSONFormat):
    """The SDK's JSON format, except that `data` stays the bytes received.

    `decode_event` parses them (strictly: no NaN, no lone surrogates, size-bounded); the
    SDK's fallback of turning unparsable JSON into a string would hide the error.
    """

    def read_data(self, body: bytes, datacontenttype: str | None) -> bytes:  # type: ignore[override]
        return bytes(body)


class _Attributes:
    """What the SDK hands its event factory, kept as is (no id or time filled in)."""

    def __init__(self, attributes: dict[str, Any], data: Any) -> None:
        self.attributes = attributes
        self.data = data


_FORMAT = _RawData()


def is_binary_http(headers: Mapping[str, str]) -> bool:
    """True when an HTTP request carries a binary-mode CloudEvent (a `ce-specversion` header)."""
    return "ce-specversion" in headers


def is_binary_kafka(headers: Iterable[tuple[str, bytes]] | None) -> bool:
    """True when a Kafka record is in binary mode: any `ce_` header (the SDK's rule)."""
    # A plain loop, not any(<generator>): measurably cheaper per record on the hot path.
    for name, _ in headers or ():  # noqa: SIM110
        if name.startswith(_KAFKA_PREFIXES):
            return True
    return False


def _invalid(error: FieldError) -> DecodeError:
    return DecodeError(Reason.INVALID_EVENT, "not a valid binary-mode CloudEvent", (error,))


def _document(attributes: dict[str, Any], data: bytes) -> bytes | DecodeError:
    """The structured JSON document of the attributes and the raw `data` bytes."""
    if "data" in attributes or "data_base64" in attributes:
        return _invalid(FieldError("data", "unknown_field", _DATA_RULE))
    time = attributes.get("time")
    if isinstance(time, dt.datetime):
        attributes["time"] = time.isoformat()  # naive stays naive: the envelope refuses it
    head = to_json(attributes)
    if not data:
        return head  # no body: the envelope reports `data` as missing
    return head[:-1] + (b',"data":' if attributes else b'"data":') + data + b"}"


def _convert(read: Any, message: Any, count: int, size: int) -> bytes | DecodeError:
    if count > MAX_ATTRIBUTES:
        rule = f"too_many_attributes: an event has at most {MAX_ATTRIBUTES} attributes"
        return _invalid(FieldError("extensions", "too_many_attributes", rule))
    if size > MAX_EVENT_BYTES:
        return DecodeError(
            Reason.TOO_LARGE, f"event is {size} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    try:
        parsed: _Attributes = read(message, _FORMAT, _Attributes)
    except UnicodeDecodeError:
        return DecodeError(Reason.INVALID_EVENT, "a ce_ header is not UTF-8 text")
    except (ValueError, OverflowError):  # the SDK parses `time` itself
        return _invalid(FieldError("time", "format", _TIME_RULE))
    return _document(parsed.attributes, parsed.data)


def structured_from_http(headers: Mapping[str, str], body: bytes) -> bytes | DecodeError:
    """The structured JSON document of a binary-mode HTTP CloudEvent (`ce-*` headers + body)."""
    chosen = {
        name.lower(): value
        for name, value in headers.items()
        if name.lower().startswith(HTTP_PREFIX) or name.lower() == "content-type"
    }
    if "content-type" in chosen:  # the media type only: `application/json; charset=utf-8`
        chosen["content-type"] = chosen["content-type"].split(";", 1)[0].strip().lower()
    message = ce_http.HTTPMessage(headers=chosen, body=body)
    size = len(body) + sum(len(v) for v in chosen.values())
    return _convert(ce_http.from_binary, message, len(chosen), size)


def structured_from_kafka(
    value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> bytes | DecodeError:
    """A record's structured JSON document: the value itself, or built from binary mode.

    The record key is not handed to the SDK, which would turn it into a `partitionkey`
    attribute: a binary event then decodes to the same event as its structured twin, and
    `partitionkey` is kept when the producer sent it (`ce_partitionkey`).
    """
    pairs = list(headers or ())
    if not is_binary_kafka(pairs):
        return value or b""
    chosen: dict[str, bytes] = {}
    for name, raw in pairs:
        lowered = name.lower()
        if lowered.startswith(KAFKA_PREFIX) or lowered == "content-type":
            chosen[lowered] = bytes(raw or b"")
    message = ce_kafka.KafkaMessage(headers=chosen, key=None, value=value or b"")
    size = len(value or b"") + sum(len(v) for v in chosen.values())
    return _convert(ce_kafka.from_binary, message, len(chosen), size)


def decode_record(
    value: bytes | None, headers: Iterable[tuple[str, bytes]] | None
) -> Event[Any] | DecodeError:
    """Decode a Kafka record in either CloudEvents content mode into a typed, current event.

    Structured records (no `ce_` header) decode exactly as `decode_event(value)` does; binary
    ones give the same event their structured twin would. Never raises on bad input.

    The projectors call this for every record, so a structured one is recognised cheaply:
    first by the binding spec's own rule (a `content-type` of the CloudEvents JSON format
    means structured mode), as one comparison with the first header, where the emit
    function (`infra.bus`) puts it on every record the platform writes; otherwise by the
    SDK's rule (any `ce_` header means binary), one scan of the header names. The whole
    projector's CPU per record: benchmarks/bench_projector_cpu.py.
    """
    if headers:
        try:
            first = headers[0]  # type: ignore[index]
        except TypeError:  # an iterable, not a sequence: it is read twice below
            headers = list(headers)
            first = headers[0] if headers else _STRUCTURED
        if first != _STRUCTURED and is_binary_kafka(headers):
            document = structured_from_kafka(value, headers)
            if isinstance(document, DecodeError):
                return document
            return decode_event(document)
    return decode_event(value or b"")
