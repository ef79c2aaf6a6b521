"""Request bodies to events: media type, size limits, JSON shape and per-item validation.

Three shapes are accepted: one structured CloudEvent, a JSON array of them (batch), and one
event in binary content mode (`ce-*` headers, the body is `data`, `Content-Type:
application/json`), which `schemas.binding` turns into its structured document through the
`cloudevents` SDK before the same decoding, so the same rules and errors apply.

The hot path parses and validates a whole batch in one pydantic-core pass (a list of the
discriminated union of current envelopes, the same union `schemas.decode` uses). Only a
batch that fails it is taken apart item by item with `decode_event`, to upcast older
versions or to say exactly which items are wrong and why.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import from_json, to_json
from starlette.requests import Request

from infra.problems import (
    decode_errors,
    decode_problem,
    invalid_events,
    malformed,
    too_large,
)
from producers.gateway.problems import Problem
from schemas import registry
from schemas.binding import is_binary_http, structured_from_http
from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.errors import DecodeError, Reason

MEDIA_TYPES = frozenset(
    {"application/json", "application/cloudevents+json", "application/cloudevents-batch+json"}
)

_ENVELOPES = functools.reduce(operator.or_, (spec.envelope for spec in registry.CURRENT.values()))
_BATCH: TypeAdapter[list[Event[Any]]] = TypeAdapter(
    list[Annotated[_ENVELOPES, Field(discriminator="type")]]  # type: ignore[valid-type]
)


def check_media_type(content_type: str | None) -> None:
    """415 unless the body is declared as JSON or CloudEvents JSON."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        shown = media[:60] or "none"
        detail = f"Content-Type {shown!r} is not accepted; send one of {sorted(MEDIA_TYPES)}"
        raise Problem(415, "unsupported_media_type", "Unsupported media type", detail)


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            detail = "Content-Length must be a non-negative integer"
            raise Problem(400, "bad_request", "Bad request", detail)
        if int(declared) > limit:
            raise too_large(f"the body is {declared} bytes; the limit is {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:  # a missing or lying Content-Length is caught here
            raise too_large(f"the body exceeds the limit of {limit} bytes")
    return bytes(body)


def _decode_one(body: bytes) -> list[Event[Any]]:
    result = decode_event(body)
    if isinstance(result, DecodeError):
        raise decode_problem(result)
    return [result]


def is_binary_mode(headers: Mapping[str, str]) -> bool:
    """A binary-mode CloudEvent: `ce-specversion` with a plain JSON body (HTTP binding 3.1)."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json" and is_binary_http(headers)


def parse_binary_event(headers: Mapping[str, str], body: bytes) -> list[Event[Any]]:
    """The one event of a binary-mode request, valid, or a Problem (400/413/422)."""
    try:
        document = structured_from_http(headers, body)
        if isinstance(document, DecodeError):
            raise decode_problem(document)
        return _decode_one(document)
    except Problem:
        raise
    except Exception as exc:
        detail = f"the event could not be decoded ({type(exc).__name__}); nothing was accepted"
        raise Problem(422, "invalid_events", "Invalid events", detail) from None


def _check_count(count: int, limit: int) -> None:
    if count == 0:
        raise malformed("the batch is empty; send at least one event")
    if count > limit:
        raise too_large(f"the batch has {count} events; the limit is {limit}")


def _decode_items(body: bytes, limit: int) -> list[Event[Any]]:
    """The slow path: parse once more, then decode and diagnose item by item."""
    try:
        items = from_json(body)
    except ValueError as exc:
        raise malformed(f"invalid JSON: {exc}") from None
    _check_count(len(items), limit)
    events: list[Event[Any]] = []
    errors: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append({"index": index, "path": "", "rule": str(Reason.NOT_AN_OBJECT),
                           "message": "each batch item must be a JSON object"})  # fmt: skip
            continue
        result = decode_event(to_json(item))
        if isinstance(result, DecodeError):
            errors.extend(decode_errors(index, result))
        else:
            events.append(result)
    if errors:
        raise invalid_events(errors, len(items))
    return events


def parse_events(body: bytes, max_events: int) -> list[Event[Any]]:
    """One CloudEvent or a JSON array of them, all valid, or a Problem (400/413/422).

    Never a 500 for what a body holds: whatever decoding raises (a validator bug the
    contract tests missed) is the partner's 422, saying the body could not be decoded.
    """
    try:
        return _parse_events(body, max_events)
    except Problem:
        raise
    except Exception as exc:
        detail = f"the body could not be decoded ({type(exc).__name__}); nothing was accepted"
        raise Problem(422, "invalid_events", "Invalid events", detail) from None


def _parse_events(body: bytes, max_events: int) -> list[Event[Any]]:
    start = body.lstrip()[:1]
    if start == b"{":
        return _decode_one(body)
    if start == b"[":
        try:
            events = _BATCH.validate_json(body)
        except ValidationError as exc:
            if exc.errors(include_url=False)[0]["type"] == "json_invalid":
                raise malformed(exc.errors(include_url=False)[0]["msg"]) from None
            return _decode_items(body, max_events)
        _check_count(len(events), max_events)
        return events
    if not start:
        raise malformed("the body is empty; send a CloudEvent or a JSON array of them")
    try:
        from_json(body)
    except ValueError as exc:
        raise malformed(f"invalid JSON: {exc}") from None
    raise malformed("the body must be a JSON object (one event) or an array (a batch)")
