"""CloudEvents extension attributes: accepted, passed through unchanged, bounded, named in errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import DecodeError, Event, decode_event, encode_event
from schemas.envelope import MAX_ATTRIBUTES
from schemas.examples import example

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def decoded(**attributes: Any) -> Event[Any] | DecodeError:
    document = example("volunteer.checked_in")
    document.update(attributes)
    return decode_event(json.dumps(document))


def test_an_event_without_extensions_encodes_to_the_same_bytes_as_before() -> None:
    """No extension, no new key: record values stay byte-compatible."""
    event = decode_event(json.dumps(example("volunteer.checked_in")))
    assert isinstance(event, Event)
    assert event.extensions == {}
    encoded = encode_event(event)
    assert list(json.loads(encoded)) == [
        "specversion", "id", "source", "type", "subject", "time",
        "datacontenttype", "dataschema", "data",
    ]  # fmt: skip
    assert encode_event(decode_event(encoded)) == encoded  # type: ignore[arg-type]


def test_unknown_extensions_are_kept_and_written_back_unchanged() -> None:
    """String, integer and boolean extensions survive decode and encode as sent."""
    event = decoded(partitionkey="vol-10077", attempt=3, replay=False, region="doha")
    assert isinstance(event, Event)
    assert event.extensions == {"partitionkey": "vol-10077", "attempt": 3, "replay": False,
                                "region": "doha"}  # fmt: skip
    again = decode_event(encode_event(event))
    assert again == event
    assert json.loads(encode_event(event))["attempt"] == 3


def test_trace_context_extensions_are_known_fields() -> None:
    """`traceparent`/`tracestate` are declared, validated and usable, not unknown extras."""
    event = decoded(traceparent=TRACEPARENT, tracestate="tw=1,other=2")
    assert isinstance(event, Event)
    assert event.traceparent == TRACEPARENT
    assert event.tracestate == "tw=1,other=2"
    assert event.extensions == {}


@pytest.mark.parametrize(
    ("attributes", "path", "rule"),
    [
        ({"Region": "x"}, "Region", "pattern"),
        ({"region_code": "x"}, "region_code", "pattern"),
        ({"data_base64": "AAAA"}, "data_base64", "pattern"),
        ({"a" * 21: "x"}, "a" * 21, "pattern"),
        ({"region": 1.5}, "region", "extension_value"),
        ({"region": None}, "region", "extension_value"),
        ({"region": {"nested": 1}}, "region", "extension_value"),
        ({"region": 2**31}, "region", "extension_value"),
        ({"region": ""}, "region", "extension_value"),
        ({"region": "x" * 257}, "region", "extension_value"),
        ({"region": "doha\u202e"}, "region", "extension_value"),
        ({"traceparent": "00-abc"}, "traceparent", "pattern"),
        ({"tracestate": " x"}, "tracestate", "pattern"),
    ],
)
def test_bad_extensions_are_refused_by_name_and_rule(
    attributes: dict[str, Any], path: str, rule: str
) -> None:
    """Names a-z/0-9 up to 20; values string/int32/bool with text rules; the value never quoted."""
    result = decoded(**attributes)
    assert isinstance(result, DecodeError)
    assert (path, rule) in [(e.path, e.rule) for e in result.errors], result.summary()
    assert "doha\u202e" not in repr(result)
    assert "AAAA" not in repr(result)


def test_a_context_attribute_cannot_be_an_extension() -> None:
    """Context attributes keep their own rules: `time` as a number is a type error on `time`."""
    result = decoded(time=5)
    assert isinstance(result, DecodeError)
    assert "time" in [e.path for e in result.errors]


def test_the_number_of_attributes_is_bounded() -> None:
    """Up to MAX_ATTRIBUTES in all; one more is a single error, however many there are."""
    base = len(example("volunteer.checked_in"))
    fits = {f"x{n}": n for n in range(MAX_ATTRIBUTES - base)}
    assert isinstance(decoded(**fits), Event)
    result = decoded(**fits, y=1)
    assert isinstance(result, DecodeError)
    assert [(e.path, e.rule) for e in result.errors] == [("extensions", "too_many_attributes")]
    flood = decoded(**{f"x{n}": n for n in range(3000)})
    assert isinstance(flood, DecodeError)
    assert len(flood.errors) == 1
