"""Test events, every one built from `schemas.examples`: the example, with fields overridden.

    event("volunteer.signed_up", "e1", T0, source="partner/org-a", volunteer_id="vol-1")
    decoded("volunteer.checked_in", "e2", T0, **PAIR)          # the decoded Event
    event("volunteer.profile_updated", data={"volunteer_id": "v", "municipality": "doha"})

Envelope attributes are named arguments (`id` and `time` also positional); payload fields
are keyword arguments laid over the example's payload (None removes a field), or `data`
replaces the payload whole. `subject` follows the payload's key field unless given. What
comes out is checked by the contract's decoder unless `check=False`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.examples import example
from schemas.registry import CURRENT

__all__ = ["TOPIC", "decoded", "event", "iso", "known_fields", "record", "records"]

TOPIC = {event_type: spec.topic.name for event_type, spec in CURRENT.items()}


def iso(at: dt.datetime) -> str:
    """RFC 3339 UTC with a Z (a naive time is taken as UTC)."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=dt.UTC)
    return at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def event(
    event_type: str,
    id: str | None = None,
    time: dt.datetime | str | None = None,
    /,
    *,
    source: str | None = None,
    subject: str | None = None,
    version: int | None = None,
    data: Mapping[str, Any] | None = None,
    envelope: Mapping[str, Any] | None = None,
    check: bool = True,
    **fields: Any,
) -> dict[str, Any]:
    """The example of `event_type` (at `version`) as a JSON-ready dict, fields overridden.

    `check`: assert that the contract's decoder accepts it (off only where a test means to
    build something invalid, or builds so many events that decoding them twice would show).
    """
    document = example(event_type, version)
    payload = dict(document["data"] if data is None else data)
    payload.update(fields)
    document["data"] = {k: v for k, v in payload.items() if v is not None}
    if id is not None:
        document["id"] = id
    if time is not None:
        document["time"] = time if isinstance(time, str) else iso(time)
    if source is not None:
        document["source"] = source
    key = document["data"].get(CURRENT[event_type].key_field)
    document["subject"] = subject if subject is not None else key or document["subject"]
    document.update(envelope or {})
    if check:
        result = decode_event(orjson.dumps(document))
        assert not isinstance(result, DecodeError), (event_type, result.summary())
    return document


def decoded(
    event_type: str,
    id: str | None = None,
    time: dt.datetime | str | None = None,
    /,
    **overrides: Any,
) -> Event[Any]:
    """`event(...)` decoded by the contract's decoder (so upcast and checked); must be valid."""
    result = decode_event(orjson.dumps(event(event_type, id, time, check=False, **overrides)))
    assert not isinstance(result, DecodeError), (event_type, result.summary())
    return result


def known_fields(event_type: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of `values` that `event_type`'s example payload has (ids shared by tests)."""
    payload = example(event_type)["data"]
    return {name: value for name, value in values.items() if name in payload}


def record(document: Mapping[str, Any], prefix: str = "") -> tuple[str, bytes, bytes]:
    """(topic, key, value) for producing the event to its canonical topic under `prefix`."""
    topic = prefix + TOPIC[document["type"]]
    return topic, str(document["subject"]).encode(), orjson.dumps(document)


def records(
    documents: Iterable[Mapping[str, Any]], prefix: str = ""
) -> list[tuple[str, bytes, bytes]]:
    """`record` of each document."""
    return [record(document, prefix) for document in documents]
