"""Hostile input: every malformed record becomes a DecodeError, quickly, without raising."""

from __future__ import annotations

import contextlib
import json
import time

import pytest

from schemas import MAX_EVENT_BYTES, DecodeError, Reason, decode_event
from schemas import decode as decode_module
from schemas.examples import example

FLOOR_S = 0.005
"""Any hostile record decodes in under 5 ms (idle: under 0.1 ms) ..."""
PARSE_RATIO = 100
"""... or in under 100 times what merely parsing its bytes as JSON costs (idle: 23 times, for
the record with thousands of keys). Both are timed side by side, best of five, so a loaded
machine slows both: the bound is about the work growing with the input, not the clock."""


def document_with(path: str, value: object) -> bytes:
    """A valid check-in example with one value replaced (dotted path), as JSON text."""
    document = example("volunteer.checked_in")
    target = document
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[part]
    target[leaf] = value
    return json.dumps(document).encode()


def raw_with(path: str, literal: str) -> bytes:
    """Like `document_with`, but splicing a raw JSON literal (NaN, 1e400, 2**70)."""
    marker = "__LITERAL__"
    return document_with(path, marker).replace(f'"{marker}"'.encode(), literal.encode())


VALID = json.dumps(example("volunteer.checked_in")).encode()
DEEP = b'{"type":"volunteer.checked_in","data":' + b"[" * 10_000 + b"]" * 10_000 + b"}"

CORPUS: list[tuple[str, bytes | str, Reason, str | None]] = [
    ("empty input", b"", Reason.INVALID_JSON, None),
    ("whitespace only", b"  \n ", Reason.INVALID_JSON, None),
    ("truncated JSON", VALID[: len(VALID) // 2], Reason.INVALID_JSON, None),
    ("trailing garbage", VALID + b" }", Reason.INVALID_JSON, None),
    (
        "invalid UTF-8",
        VALID.replace(b"kiosk", b"ki\xffsk").replace(b"qr", b"q\xc3"),
        Reason.INVALID_JSON,
        None,
    ),
    (
        "lone surrogate escape",
        document_with("data.method", "x").replace(b'"x"', b'"\\ud800"'),
        Reason.INVALID_JSON,
        None,
    ),
    (
        "lone surrogate in str input",
        VALID.decode().replace("qr", "\ud800"),
        Reason.INVALID_JSON,
        None,
    ),
    ("10,000-deep nesting", DEEP, Reason.INVALID_JSON, None),
    ("10 MB string", document_with("data.method", "x" * 10_000_000), Reason.TOO_LARGE, None),
    ("just over the size limit", b" " * MAX_EVENT_BYTES + VALID, Reason.TOO_LARGE, None),
    ("JSON array", b"[1, 2, 3]", Reason.NOT_AN_OBJECT, None),
    ("JSON batch of events", b"[" + VALID + b"]", Reason.NOT_AN_OBJECT, None),
    ("JSON string", b'"volunteer.checked_in"', Reason.NOT_AN_OBJECT, None),
    ("JSON null", b"null", Reason.NOT_AN_OBJECT, None),
    ("JSON number", b"42", Reason.NOT_AN_OBJECT, None),
    ("JSON true", b"true", Reason.NOT_AN_OBJECT, None),
    ("empty object", b"{}", Reason.INVALID_EVENT, "type"),
    ("type is a number", document_with("type", 7), Reason.INVALID_EVENT, "type"),
    ("unknown type", document_with("type", "volunteer.teleported"), Reason.UNKNOWN_TYPE, None),
    ("type with control chars", document_with("type", "a\x00b"), Reason.UNKNOWN_TYPE, None),
    ("wrong specversion", document_with("specversion", "0.3"), Reason.INVALID_EVENT, "specversion"),
    (
        "specversion as number",
        document_with("specversion", 1.0),
        Reason.INVALID_EVENT,
        "specversion",
    ),
    (
        "unknown version",
        document_with("dataschema", "urn:tatawwu:volunteer.checked_in:v9"),
        Reason.UNSUPPORTED_VERSION,
        None,
    ),
    (
        "dataschema of another type",
        document_with("dataschema", "urn:tatawwu:volunteer.no_show:v1"),
        Reason.INVALID_EVENT,
        "dataschema",
    ),
    (
        "dataschema not a URN",
        document_with("dataschema", "https://example.com/s.json"),
        Reason.INVALID_EVENT,
        "dataschema",
    ),
    ("dataschema a number", document_with("dataschema", 1), Reason.INVALID_EVENT, "dataschema"),
    ("NaN", raw_with("data.campaign_id", "NaN"), Reason.INVALID_EVENT, "data.campaign_id"),
    ("Infinity", raw_with("data.at", "Infinity"), Reason.INVALID_EVENT, "data.at"),
    (
        "-Infinity hours",
        raw_with("data.opportunity_id", "-Infinity"),
        Reason.INVALID_EVENT,
        "data.opportunity_id",
    ),
    ("1e400", raw_with("data.volunteer_id", "1e400"), Reason.INVALID_EVENT, "data.volunteer_id"),
    (
        "2**70 where a string belongs",
        raw_with("data.method", str(2**70)),
        Reason.INVALID_EVENT,
        "data.method",
    ),
    (
        "wrong type: object for string",
        document_with("data.campaign_id", {"a": 1}),
        Reason.INVALID_EVENT,
        "data.campaign_id",
    ),
    ("wrong type: data is a list", document_with("data", [1]), Reason.INVALID_EVENT, "data"),
    ("wrong type: data is null", document_with("data", None), Reason.INVALID_EVENT, "data"),
    (
        "control characters in an id",
        document_with("data.opportunity_id", "opp\x00\x1b[31m"),
        Reason.INVALID_EVENT,
        "data.opportunity_id",
    ),
    (
        "newline after an id",
        document_with("data.opportunity_id", "opp-1\n"),
        Reason.INVALID_EVENT,
        "data.opportunity_id",
    ),
    ("unknown data field", document_with("data.note", "hello"), Reason.INVALID_EVENT, "data.note"),
    (
        "unknown envelope field",
        document_with("traceparent", "00-abc"),
        Reason.INVALID_EVENT,
        "traceparent",
    ),
    ("naive time", document_with("time", "2025-03-21T08:02:15"), Reason.INVALID_EVENT, "time"),
    (
        "time past year 9999 in UTC",
        document_with("time", "9999-12-31T23:59:59-23:59"),
        Reason.INVALID_EVENT,
        "time",
    ),
    (
        "time before year 1 in UTC",
        document_with("time", "0001-01-01T00:00:00+05:00"),
        Reason.INVALID_EVENT,
        "time",
    ),
    (
        "check-in past year 9999 in UTC",
        document_with("data.at", "9999-12-31T23:30:00-00:31"),
        Reason.INVALID_EVENT,
        "data.at",
    ),
    (
        "leap second",
        document_with("data.at", "2025-06-30T23:59:60Z"),
        Reason.INVALID_EVENT,
        "data.at",
    ),
    (
        "offset of 24 hours",
        document_with("time", "2025-03-21T08:02:15+24:00"),
        Reason.INVALID_EVENT,
        "time",
    ),
    ("year zero", document_with("time", "0000-01-01T00:00:00Z"), Reason.INVALID_EVENT, "time"),
    ("time as epoch number", document_with("time", 1742540535), Reason.INVALID_EVENT, "time"),
    (
        "date for a datetime",
        document_with("data.at", "2025-03-21"),
        Reason.INVALID_EVENT,
        "data.at",
    ),
    (
        "subject differs from key",
        document_with("subject", "vol-99999"),
        Reason.INVALID_EVENT,
        "subject",
    ),
    (
        "whitespace up to the limit",
        b" " * (MAX_EVENT_BYTES - 10) + b"{}",
        Reason.INVALID_EVENT,
        "type",
    ),
    (
        "huge key count",
        b'{"type":"volunteer.checked_in",'
        + b",".join(b'"k%d":0' % i for i in range(MAX_EVENT_BYTES // 12))
        + b"}",
        Reason.INVALID_EVENT,
        "extensions",
    ),
]


@pytest.mark.parametrize(
    ("raw", "reason", "path"),
    [pytest.param(raw, reason, path, id=name) for name, raw, reason, path in CORPUS],
)
def test_hostile_input_is_a_decode_error_with_a_clear_reason(
    raw: bytes | str, reason: Reason, path: str | None
) -> None:
    """Each hostile record gives the expected reason (and field), in time bounded by parsing it."""
    timings, parses = [], []
    for _ in range(5):  # best of five, interleaved: scheduler noise hits both alike
        started = time.perf_counter()
        result = decode_event(raw)
        timings.append(time.perf_counter() - started)
        started = time.perf_counter()
        with contextlib.suppress(ValueError, TypeError, RecursionError):
            json.loads(raw)
        parses.append(time.perf_counter() - started)
    elapsed, bound = min(timings), max(FLOOR_S, PARSE_RATIO * min(parses))
    assert isinstance(result, DecodeError)
    assert result.reason is reason, result.summary()
    if path is not None:
        assert path in [error.path for error in result.errors], result.summary()
    assert result.detail
    assert elapsed < bound, f"took {elapsed * 1000:.1f} ms (bound {bound * 1000:.1f} ms)"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("time", "9999-12-31T23:59:59-23:59"),
        ("time", "0001-01-01T00:00:00+05:00"),
        ("data.at", "9999-12-31T23:59:59.999999-00:01"),
        ("data.at", "0001-01-01T04:59:59+05:00"),
    ],
)
def test_instants_leaving_the_calendar_in_utc_are_out_of_range(path: str, value: str) -> None:
    """Valid syntax whose UTC form is before year 1 or after 9999: rule `out_of_range`."""
    result = decode_event(document_with(path, value))
    assert isinstance(result, DecodeError)
    [error] = result.errors
    assert (error.path, error.rule) == (path, "out_of_range")
    assert (
        error.message
        == "out_of_range: must fall within the years 0001 to 9999 once converted to UTC"
    )
    assert value not in result.summary()


def test_the_last_representable_instants_still_decode() -> None:
    """The same edges, one minute inside the calendar, decode to UTC."""
    for value in ("9999-12-31T23:58:59-00:01", "0001-01-01T05:00:00+05:00"):
        assert not isinstance(decode_event(document_with("time", value)), DecodeError), value


def test_a_validator_bug_in_the_fast_path_is_a_decode_error_not_an_exception(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Any exception other than a validation error from pydantic still gives a DecodeError."""

    class Exploding:
        def validate_json(self, raw: bytes) -> None:
            raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(decode_module, "_ANY_EVENT", Exploding())
    assert not isinstance(
        decode_module.decode_event(VALID), DecodeError
    )  # the slow path decodes it
    monkeypatch.setattr(decode_module, "_diagnose", Exploding().validate_json)
    result = decode_module.decode_event(VALID)
    assert isinstance(result, DecodeError)
    assert result.detail == "undiagnosable input (RecursionError)"


def test_inputs_over_the_limit_are_refused_without_parsing() -> None:
    """The size check comes first: a 10 MB input is refused in well under a millisecond."""
    raw = b"{" + b" " * (10 * MAX_EVENT_BYTES) + b"}"
    started = time.perf_counter()
    result = decode_event(raw)
    assert time.perf_counter() - started < 0.001
    assert isinstance(result, DecodeError)
    assert result.reason is Reason.TOO_LARGE
    assert str(MAX_EVENT_BYTES) in result.detail


@pytest.mark.parametrize("raw", [None, 42, ["{}"]], ids=["None", "int", "list"])
def test_non_bytes_input_is_an_error_not_an_exception(raw: object) -> None:
    """Passing something that is not bytes or str is reported, not raised."""
    result = decode_event(raw)  # type: ignore[arg-type]
    assert isinstance(result, DecodeError)
    assert result.reason is Reason.INVALID_JSON


def test_bad_events_are_named_for_the_dead_letter_headers() -> None:
    """When the id and type are readable, the error carries them."""
    result = decode_event(document_with("data.method", "teleport"))
    assert isinstance(result, DecodeError)
    assert result.event_id == "evt-volunteer-checked_in-0001"
    assert result.event_type == "volunteer.checked_in"


def test_unsafe_ids_are_not_copied_into_the_error() -> None:
    """An id that is not a safe token (it could be anything) is neither named nor echoed."""
    result = decode_event(document_with("id", "+97455501234 Fatima"))
    assert isinstance(result, DecodeError)
    assert result.event_id is None
    assert "Fatima" not in repr(result)
    assert "+974" not in repr(result)
    assert (
        result.errors[0].message == "pattern: must be an event id: 1-128 letters, digits, "
        "'.', '_', ':' or '-', not starting with punctuation"
    )


def test_thousands_of_extension_attributes_give_one_error() -> None:
    """Thousands of well-named top-level keys are one `too_many_attributes` error."""
    raw = next(raw for name, raw, *_ in CORPUS if name == "huge key count")
    result = decode_event(raw)
    assert isinstance(result, DecodeError)
    assert [(e.path, e.rule) for e in result.errors] == [("extensions", "too_many_attributes")]
    assert len(result.summary()) < 500


def test_thousands_of_unknown_fields_give_a_bounded_error() -> None:
    """A record with thousands of unknown keys lists the first few and counts the rest."""
    raw = (
        b'{"type":"volunteer.checked_in","data":{'
        + b",".join(b'"k%d":0' % i for i in range(MAX_EVENT_BYTES // 12))
        + b"}}"
    )
    result = decode_event(raw)
    assert isinstance(result, DecodeError)
    assert len(result.errors) == 20
    assert result.omitted > 1000
    assert f"and {len(result.errors) + result.omitted - 3} more" in result.summary()


def test_bytearray_and_memoryview_decode_like_bytes() -> None:
    """Kafka clients hand out bytes-like values; all of them decode."""
    for raw in (bytearray(VALID), memoryview(VALID)):
        assert not isinstance(decode_event(raw), DecodeError)


def test_a_huge_unknown_key_does_not_make_a_huge_error() -> None:
    """Unknown keys are named in paths, shortened so an error stays loggable."""
    result = decode_event(document_with("data." + "k" * 60_000, 1))
    assert isinstance(result, DecodeError)
    assert result.reason is Reason.INVALID_EVENT
    assert len(result.summary()) < 500
