"""Property tests: generated valid events of every type round-trip; broken ones are caught."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_mutations import broken_events
from schema_strategies import dumps, events

from schemas import EVENT_TYPES, DecodeError, Reason, decode_event, encode_event

# Per type, so that every type gets examples even when the global budget is small.
PER_TYPE = settings(max_examples=30)


@pytest.mark.parametrize("event_type", EVENT_TYPES)
@PER_TYPE
@given(data=st.data())
def test_generated_events_of_every_type_decode_and_round_trip(
    event_type: str, data: st.DataObject
) -> None:
    """Any valid document decodes; encoding and decoding again gives it back, field for field.

    Equal values are not enough for partial updates: which payload fields were sent (and
    which were sent as null) must survive too, and the encoding names exactly those.
    """
    document = data.draw(events(event_type))
    event = decode_event(dumps(document))
    assert not isinstance(event, DecodeError), event.summary()
    assert event.type == event_type
    assert event.id == document["id"]
    again = decode_event(encode_event(event))
    assert again == event
    assert again.data.model_fields_set == event.data.model_fields_set
    assert json.loads(encode_event(event))["data"].keys() == document["data"].keys()


@given(case=broken_events())
def test_broken_events_are_rejected_at_the_broken_field(case: tuple[dict, str, str]) -> None:
    """Each mutation (dropped field, bad enum, bad phone, inverted times...) is named by path."""
    document, mutation, path = case
    result = decode_event(dumps(document))
    assert isinstance(result, DecodeError), f"{mutation} was accepted"
    assert result.reason is Reason.INVALID_EVENT, (mutation, result.summary())
    assert path in [error.path for error in result.errors], (mutation, result.summary())


@given(case=broken_events())
def test_errors_about_broken_events_never_repeat_personal_data(
    case: tuple[dict, str, str],
) -> None:
    """Names, phones and emails of the input never appear in a decode error."""
    document, _, _ = case
    result = decode_event(dumps(document))
    assert isinstance(result, DecodeError)
    text = result.summary() + repr([error.as_dict() for error in result.errors])
    for field in ("given_name", "family_name", "phone", "email"):
        value = document.get("data", {}).get(field)
        # Short values could match message words by chance; real ones are longer.
        if isinstance(value, str) and len(value) >= 6:
            assert value not in text, field
