"""Never crash on data: any bytes decode into an event or a `DecodeError`, never an exception.

Property tests over every (type, version) in the registry and every kind of field value
(instants at the calendar's edges, huge and odd numbers, every Unicode class, deep nesting,
oversized strings), over raw and corrupted bytes, and over the v1 -> v2 upcast.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from schema_hostile import SPEC_KEYS, hostile_events, offsets, rfc3339
from schema_strategies import any_events, dumps, events

from infra.problems import decode_problem
from schemas import SPECS, DecodeError, Event, decode_event, encode_event
from schemas.examples import example
from schemas.upcasters import upcast


def decoded_safely(raw: bytes | str) -> Event[Any] | DecodeError:
    """Decode; a `DecodeError` must be loggable, a decoded event must round-trip."""
    result = decode_event(raw)
    if isinstance(result, DecodeError):
        json.dumps(result.as_dict())
        json.dumps(decode_problem(result).body())
        assert result.summary().isprintable()  # one log line: no controls, separators, bidi
        assert result.detail
    else:
        assert isinstance(result, Event)
        assert decode_event(encode_event(result)) == result
    return result


@pytest.mark.parametrize(("event_type", "version"), SPEC_KEYS)
@settings(max_examples=25)
@given(data=st.data())
def test_hostile_values_in_any_field_never_crash_the_decoder(
    event_type: str, version: int, data: st.DataObject
) -> None:
    """Replacing, adding or removing fields with hostile values gives an event or an error."""
    decoded_safely(data.draw(hostile_events(event_type, version)))


@pytest.mark.parametrize(("event_type", "version"), SPEC_KEYS)
@settings(max_examples=15)
@given(data=st.data())
def test_hostile_instants_in_every_instant_field_never_crash_the_decoder(
    event_type: str, version: int, data: st.DataObject
) -> None:
    """`time`, `at`, `starts_at`, `ends_at`: any RFC 3339 text gives an event or an error."""
    document = data.draw(events(event_type, version))
    instants = ["time"] + [
        f"data.{k}" for k in ("at", "starts_at", "ends_at") if k in document["data"]
    ]
    path = data.draw(st.sampled_from(instants))
    target = document["data"] if path.startswith("data.") else document
    target[path.removeprefix("data.")] = data.draw(rfc3339())
    result = decoded_safely(dumps(document))
    if isinstance(result, DecodeError):
        rules = {error.rule for error in result.errors if error.path == path}
        assert rules <= {"format", "out_of_range", "order"}, result.summary()


@settings(max_examples=100)
@given(raw=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_the_decoder(raw: bytes) -> None:
    """Random bytes (mostly not JSON) are a `DecodeError`, never an exception."""
    assert isinstance(decoded_safely(raw), DecodeError | Event)


_TOKENS = [b'"', b"{", b"}", b"[", b"]", b",", b":", b"\\", b"\\u", b"\\ud800", b"\xff",
           b"\xc3", b"\x00", b"null", b"1e999", b"-", b"9" * 40, b'"type"']  # fmt: skip


@settings(max_examples=100)
@given(data=st.data())
def test_corrupted_valid_events_never_crash_the_decoder(data: st.DataObject) -> None:
    """A valid event with bytes flipped, cut or spliced in is an event or an error."""
    raw = bytearray(dumps(data.draw(any_events())))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        edit = data.draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if edit == "flip" and at < len(raw):
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif edit == "cut":
            del raw[at : at + data.draw(st.integers(1, 8))]
        elif edit == "insert":
            raw[at:at] = data.draw(st.sampled_from(_TOKENS))
        else:
            del raw[at:]
    decoded_safely(bytes(raw))


@st.composite
def _valid_syntax_instants(draw: st.DrawFn) -> tuple[str, dt.datetime | None]:
    """`(RFC 3339 text, the UTC instant it names or None when out of Python's range)`."""
    edge = draw(st.sampled_from(["first day", "last day", "any"]))
    if edge == "first day":
        local = dt.datetime(1, 1, 1, draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    elif edge == "last day":
        local = dt.datetime(9999, 12, 31, draw(st.integers(0, 23)), draw(st.integers(0, 59)))
    else:
        local = draw(st.datetimes(min_value=dt.datetime(1, 1, 1)))
    local = local.replace(microsecond=draw(st.sampled_from([0, 500_000, 123_456])))
    offset_text = draw(offsets(lenient=False))
    if offset_text in ("Z", "z"):
        offset = dt.timedelta(0)
    else:
        sign = -1 if offset_text[0] == "-" else 1
        offset = sign * dt.timedelta(hours=int(offset_text[1:3]), minutes=int(offset_text[4:6]))
    try:
        utc = (local - offset).replace(tzinfo=dt.UTC)
    except OverflowError:
        utc = None
    return local.isoformat() + offset_text, utc


@pytest.mark.parametrize("path", ["time", "data.at"])
@settings(max_examples=120)
@given(case=_valid_syntax_instants())
def test_instants_in_range_decode_and_out_of_range_ones_are_refused(
    path: str, case: tuple[str, dt.datetime | None]
) -> None:
    """Any offset up to ±23:59 on any day from 0001 to 9999: the UTC instant, or `out_of_range`.

    `9999-12-31T23:59:59-23:59` and `0001-01-01T00:00:00+05:00` are valid syntax but fall
    outside the representable years once converted to UTC.
    """
    text, utc = case
    document = example("volunteer.checked_in")
    target = document["data"] if path == "data.at" else document
    target[path.removeprefix("data.")] = text
    result = decoded_safely(json.dumps(document))
    if utc is None:
        assert isinstance(result, DecodeError), text
        assert [(e.path, e.rule) for e in result.errors] == [(path, "out_of_range")], text
    else:
        assert not isinstance(result, DecodeError), result.summary()
        value = result.time if path == "time" else result.data.at
        assert value == utc
        assert value.utcoffset() == dt.timedelta(0)


# Names a v1 record may hold: visible letters among every kind of space and invisible mark.
NAME_PARTS = ["Fatima", "Al-Kuwari", "م", "محمد", "\U0001f600", "x", " ", "  ", "\u00a0"]
NAME_PARTS += ["\u3000", "\u2009", "\u200b", "\u200c", "\u200d", "\u200e", "\u200f", "\ufeff"]
NAME_PARTS += ["\u00ad", "\u061c", "\u180e", "\u2060", "\u0301"]
_name_parts = st.sampled_from(NAME_PARTS)
_full_names = st.lists(_name_parts, min_size=1, max_size=8).map("".join)


@pytest.mark.parametrize("event_type", ["volunteer.registered", "volunteer.profile_updated"])
@settings(max_examples=150)
@given(full_name=_full_names)
def test_every_valid_v1_name_upcasts_to_a_valid_v2_event(event_type: str, full_name: str) -> None:
    """Whatever whitespace or invisible marks a valid v1 `full_name` holds, it upcasts."""
    document = example(event_type, 1)
    document["data"]["full_name"] = full_name
    v1 = SPECS[(event_type, 1)].model
    try:
        payload = v1.model_validate_json(json.dumps(document["data"]))
    except ValidationError:
        assume(False)  # not a valid v1 record: nothing to replay
        return
    lifted = upcast(event_type, 1, 2, payload.model_dump(mode="json", exclude_unset=True))
    assert "full_name" not in lifted
    result = decoded_safely(json.dumps(document))
    assert not isinstance(result, DecodeError), result.summary()
    joined = " ".join(filter(None, (result.data.given_name, result.data.family_name)))
    assert joined.split() == full_name.split()


@settings(max_examples=60)
@given(document=events("volunteer.profile_updated", version=1))
def test_v1_profile_updates_with_nulls_replay_without_them(document: dict) -> None:
    """v1 tolerated null for "unchanged"; replayed as v2, those fields are simply absent."""
    result = decoded_safely(dumps(document))
    assert not isinstance(result, DecodeError), result.summary()
    sent = result.data.model_fields_set - {"family_name"}
    assert all(getattr(result.data, field) is not None for field in sent)
    for field in ("phone", "email", "language", "municipality"):
        assert (field in sent) == (document["data"].get(field) is not None)
