"""Bytes to events and back: `decode_event`, `encode_event`.

The hot path is one call into pydantic-core: a discriminated union of every current
envelope class parses and validates the JSON in one pass (no `json.loads` + validate).
Only when that fails does the slow path run, to tell *why* (so that a partner can act),
or to decode an older version and upcast it.
"""

from __future__ import annotations

import functools
import operator
import re
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter, ValidationError
from pydantic_core import from_json, to_json

from schemas import registry
from schemas.common import EVENT_ID_PATTERN, EXTENSION_NAME_PATTERN
from schemas.envelope import (
    MAX_ATTRIBUTES,
    TYPE_PATTERN,
    Event,
    dataschema_for,
    parse_dataschema,
)
from schemas.errors import (
    DecodeError,
    FieldError,
    Reason,
    field_error,
    field_errors,
)
from schemas.upcasters import upcast

MAX_EVENT_BYTES = 64 * 1024
"""Inputs larger than this are refused unparsed (reason `too_large`).

The largest valid event, every string at its maximum length and written as `\\uXXXX`
escapes, is under 8 KiB: 64 KiB leaves ample room while bounding what a hostile record
(thousands of unknown keys, each one a validation error) can cost to diagnose (~20 ms).
"""

MAX_FIELD_ERRORS = 20
"""Field errors kept per `DecodeError`; the count of the others is in `omitted`."""

_CURRENT_ENVELOPES = functools.reduce(
    operator.or_, (spec.envelope for spec in registry.CURRENT.values())
)
_ANY_EVENT: TypeAdapter[Event[Any]] = TypeAdapter(
    Annotated[_CURRENT_ENVELOPES, Field(discriminator="type")]
)
_EVENT_ID_RE = re.compile(EVENT_ID_PATTERN)
_TYPE_RE = re.compile(TYPE_PATTERN)
_EXTENSION_NAME_RE = re.compile(EXTENSION_NAME_PATTERN)
_TOO_MANY_ATTRIBUTES = FieldError(
    "extensions",
    "too_many_attributes",
    f"too_many_attributes: an event has at most {MAX_ATTRIBUTES} attributes, extensions included",
)


def decode_event(raw: bytes | bytearray | memoryview | str) -> Event[Any] | DecodeError:
    """Decode one CloudEvent (structured JSON) into a typed, current-version event.

    Never raises on bad input: returns a `DecodeError` saying what is wrong instead.
    Events of an older version are validated as that version, then upcast.
    """
    if isinstance(raw, str):
        try:
            raw = raw.encode()
        except UnicodeEncodeError:  # lone surrogates cannot be JSON text
            return DecodeError(Reason.INVALID_JSON, "input is not valid Unicode text")
    elif not isinstance(raw, bytes | bytearray | memoryview):
        return DecodeError(Reason.INVALID_JSON, f"input is {type(raw).__name__}, not bytes")
    size = raw.nbytes if isinstance(raw, memoryview) else len(raw)
    if size > MAX_EVENT_BYTES:
        return DecodeError(
            Reason.TOO_LARGE, f"event is {size} bytes; the limit is {MAX_EVENT_BYTES}"
        )
    try:
        return _ANY_EVENT.validate_json(raw)
    except ValidationError as exc:
        # Unparsable JSON is exactly one error; do not materialise thousands of others.
        if exc.error_count() == 1:
            first = exc.errors(include_url=False)[0]
            if first["type"] == "json_invalid":
                return DecodeError(Reason.INVALID_JSON, first["msg"])
    except Exception:  # noqa: S110 - a validator bug: the slow path reports it, never raises
        pass
    try:
        return _diagnose(bytes(raw))
    except Exception as exc:
        return DecodeError(Reason.INVALID_EVENT, f"undiagnosable input ({type(exc).__name__})")


def encode_event(event: Event[Any]) -> bytes:
    """Compact JSON of an event; `decode_event` gives it back, field presence included.

    Payload fields are written when they were set, null included: in a partial update an
    absent field is unchanged and `family_name: null` clears it, so dropping nulls would
    change what the event says. Envelope optionals (`dataschema`, `correlationid`, `traceparent`,
    `tracestate`) are omitted when None; extension attributes are written as received; `dataschema` always states the version on events the registry built.
    """
    return event.__pydantic_serializer__.to_json(event, exclude=_unset(event))


def _unset(event: Event[Any]) -> dict[str, Any] | None:
    """The `exclude` argument writing set payload fields and non-None envelope attributes."""
    exclude: dict[str, Any] = {}
    if event.dataschema is None:
        exclude["dataschema"] = True
    if event.correlationid is None:
        exclude["correlationid"] = True
    if event.traceparent is None:
        exclude["traceparent"] = True
    if event.tracestate is None:
        exclude["tracestate"] = True
    data = event.data
    if unset := _field_names(type(data)) - data.__pydantic_fields_set__:
        exclude["data"] = dict.fromkeys(unset, True)
    return exclude or None


@functools.cache
def _field_names(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(model.model_fields)


def _diagnose(raw: bytes) -> Event[Any] | DecodeError:
    """Find out why the fast path refused `raw`, or decode an older version."""
    try:
        document = from_json(raw)
    except ValueError as exc:
        return DecodeError(Reason.INVALID_JSON, f"Invalid JSON: {exc}")
    if not isinstance(document, dict):
        kind = {list: "an array", str: "a string", type(None): "null", bool: "a boolean"}
        shape = kind.get(type(document), "a number")
        return DecodeError(Reason.NOT_AN_OBJECT, f"the JSON value is {shape}, not an object")

    event_id = document.get("id")
    event_type = document.get("type")
    named: dict[str, Any] = {
        "event_id": event_id
        if isinstance(event_id, str) and _EVENT_ID_RE.fullmatch(event_id)
        else None,
        "event_type": event_type
        if isinstance(event_type, str) and _TYPE_RE.fullmatch(event_type)
        else None,
    }
    if not isinstance(event_type, str):
        rule = "missing" if event_type is None else "type"
        error = FieldError("type", rule, f"{rule}: every event needs a string `type`")
        return DecodeError(Reason.INVALID_EVENT, "the event has no type", (error,), **named)
    if event_type not in registry.CURRENT:
        detail = "unknown event type (see `tatawwu schemas export` for the catalog)"
        return DecodeError(Reason.UNKNOWN_TYPE, detail, **named)

    current = registry.CURRENT[event_type]
    spec = current
    dataschema = document.get("dataschema")
    if dataschema is not None:
        parsed = parse_dataschema(dataschema) if isinstance(dataschema, str) else None
        if parsed is None or parsed[0] != event_type:
            expected = dataschema_for(event_type, current.version)
            error = FieldError(
                "dataschema", "pattern", f"pattern: must be like {expected!r} for this type"
            )
            return DecodeError(Reason.INVALID_EVENT, "bad dataschema", (error,), **named)
        if (event_type, parsed[1]) not in registry.SPECS:
            versions = ", ".join(f"v{v}" for v in registry.known_versions(event_type))
            detail = f"the dataschema version is not supported for {event_type} (known: {versions})"
            return DecodeError(Reason.UNSUPPORTED_VERSION, detail, **named)
        spec = registry.SPECS[(event_type, parsed[1])]

    detail = f"not a valid {event_type} v{spec.version} event"
    if (flood := _unknown_field_flood(document, spec, detail, named)) is not None:
        return flood
    try:
        event = spec.envelope.model_validate_json(raw)
    except ValidationError as exc:
        return _invalid(exc, detail, named)
    if spec is current:
        return event  # cannot happen unless the union and the class disagree; be lenient
    return _upcast(event, current, named)


def _upcast(
    event: Event[Any], current: registry.EventSpec, named: dict[str, Any]
) -> Event[Any] | DecodeError:
    """Lift a valid older-version event to the current version and validate the result."""
    document = from_json(encode_event(event))
    document["data"] = upcast(event.type, event.version, current.version, document["data"])
    document["dataschema"] = current.dataschema
    try:
        return current.envelope.model_validate_json(to_json(document))
    except ValidationError as exc:
        detail = f"{event.type} v{event.version} could not be upcast to v{current.version}"
        return _invalid(exc, detail, named)


def _unknown_field_flood(
    document: dict[str, Any], spec: registry.EventSpec, detail: str, named: dict[str, Any]
) -> DecodeError | None:
    """Report a record with scores of unknown fields or attributes without validating it.

    Each unknown field costs pydantic an error object; thousands of them (a hostile or
    broken producer) would make diagnosing one record take tens of milliseconds. Top-level
    keys are extension attributes when their names are valid: too many of them is one
    error, whatever their number.
    """
    declared = spec.envelope.model_fields
    bad_names = [
        field_error(
            {
                "type": "string_pattern_mismatch",
                "loc": (key,),
                "msg": "",
                "input": None,
                "ctx": {"pattern": EXTENSION_NAME_PATTERN},
            }
        )
        for key in document
        if key not in declared and not _EXTENSION_NAME_RE.fullmatch(key)
    ]
    data = document.get("data")
    unknown_data = (
        [key for key in data if key not in spec.model.model_fields]
        if isinstance(data, dict)
        else []
    )
    too_many = len(document) > MAX_ATTRIBUTES
    if not too_many and len(bad_names) + len(unknown_data) <= MAX_FIELD_ERRORS:
        return None  # ordinary case: let pydantic report every problem
    errors = [_TOO_MANY_ATTRIBUTES] if too_many else []
    errors += bad_names[: MAX_FIELD_ERRORS - len(errors)]
    errors += [
        field_error(
            {
                "type": "extra_forbidden",
                "loc": ("data", key),
                "msg": "Extra inputs are not permitted",
                "input": None,
            }
        )
        for key in unknown_data[: MAX_FIELD_ERRORS - len(errors)]
    ]
    omitted = too_many + len(bad_names) + len(unknown_data) - len(errors)
    return DecodeError(Reason.INVALID_EVENT, detail, tuple(errors), omitted=omitted, **named)


def _invalid(exc: ValidationError, detail: str, named: dict[str, Any]) -> DecodeError:
    errors = field_errors(exc, limit=MAX_FIELD_ERRORS)
    omitted = exc.error_count() - len(errors)
    return DecodeError(Reason.INVALID_EVENT, detail, errors, omitted=omitted, **named)
