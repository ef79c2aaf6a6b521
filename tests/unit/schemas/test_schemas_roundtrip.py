"""Every event type encodes and decodes back to itself; samples written by hand decode."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from schemas import (
    EVENT_TYPES,
    DecodeError,
    Municipality,
    VolunteerCheckedIn,
    VolunteerSignedUp,
    decode_event,
    encode_event,
    key_for,
    new_event,
    spec_for,
    topic_for,
)
from schemas.examples import example
from schemas.topics import ATTENDANCE, CAMPAIGNS, SIGNUPS

CHECKED_IN = b"""{
  "specversion": "1.0",
  "id": "0d6f4d3e-8a3c-4bd8-9a55-1f0b2d5c7a10",
  "source": "partner/org-qrcs",
  "type": "volunteer.checked_in",
  "subject": "vol-10077",
  "time": "2025-03-21T08:02:15+03:00",
  "data": {
    "volunteer_id": "vol-10077",
    "opportunity_id": "opp-0042",
    "campaign_id": "cmp-2025-beach",
    "at": "2025-03-21T08:02:11+03:00",
    "method": "kiosk"
  }
}"""

OPPORTUNITY = """{"specversion":"1.0","id":"evt-1","source":"partner/org-qrcs",
"type":"opportunity.published","subject":"cmp-2025-beach","time":"2025-03-01T10:00:00Z",
"dataschema":"urn:tatawwu:opportunity.published:v1","correlationid":"req-77",
"data":{"opportunity_id":"opp-9","campaign_id":"cmp-2025-beach","title_ar":"فرز التبرعات",
"title_en":"Sorting donations","starts_at":"2025-03-08T06:00:00Z","ends_at":"2025-03-08T10:30:00Z",
"capacity":25,"municipality":"umm_salal","min_age":16}}"""


def decoded(raw: bytes | str):
    """Decode and fail the test with the error summary if it did not decode."""
    result = decode_event(raw)
    assert not isinstance(result, DecodeError), result.summary()
    return result


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_example_decodes_and_round_trips(event_type: str) -> None:
    """The documented example of each type decodes, and encode -> decode gives it back."""
    event = decoded(json.dumps(example(event_type)))
    assert event.type == event_type
    assert isinstance(event.data, spec_for(event_type).model)
    assert decoded(encode_event(event)) == event


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_encoding_always_states_the_current_version(event_type: str) -> None:
    """A document without `dataschema` is read as current and encoded with it stamped."""
    document = example(event_type)
    del document["dataschema"]
    event = decoded(json.dumps(document))
    written = json.loads(encode_event(event))
    assert written["dataschema"] == f"urn:tatawwu:{event_type}:v{spec_for(event_type).version}"
    assert event.version == spec_for(event_type).version


def test_a_hand_written_check_in_decodes_with_typed_fields() -> None:
    """A pretty-printed partner sample decodes into typed, UTC-normalised values."""
    event = decoded(CHECKED_IN)
    assert isinstance(event.data, VolunteerCheckedIn)
    assert event.data.method == "kiosk"
    assert event.time == dt.datetime(2025, 3, 21, 5, 2, 15, tzinfo=dt.UTC)
    assert event.time.utcoffset() == dt.timedelta(0)
    assert event.data.at.tzinfo is not None
    assert event.data.at.utcoffset() == dt.timedelta(0)
    assert event.data.at.hour == 5


def test_opportunity_events_are_keyed_by_their_campaign() -> None:
    """Opportunity events live on the campaigns topic, with subject = campaign_id."""
    event = decoded(OPPORTUNITY)
    assert topic_for(event) is CAMPAIGNS
    assert key_for(event) == "cmp-2025-beach" == event.data.campaign_id
    assert event.data.municipality is Municipality.UMM_SALAL
    assert event.correlationid == "req-77"


def test_encoding_is_compact_json_in_utc() -> None:
    """Encoded events carry no whitespace and write times in UTC with a Z."""
    raw = encode_event(decoded(CHECKED_IN))
    assert b" " not in raw.replace(b"partner/", b"")
    assert b'"time":"2025-03-21T05:02:15Z"' in raw


def test_new_event_takes_subject_from_the_key_field() -> None:
    """Producers build envelopes from a payload; subject, topic and key follow the registry."""
    data = VolunteerSignedUp(volunteer_id="vol-1", opportunity_id="opp-2", campaign_id="cmp-3")
    event = new_event(data, source="partner/org-qrcs", event_id="evt-42")
    assert (event.subject, topic_for(event), key_for(event)) == ("vol-1", SIGNUPS, "vol-1")
    assert decoded(encode_event(event)) == event


def test_attendance_events_go_to_the_attendance_topic() -> None:
    """The registry routes check-ins to `tatawwu.attendance`."""
    assert topic_for(decoded(CHECKED_IN)) is ATTENDANCE


def test_decoded_events_are_immutable() -> None:
    """Events are frozen: consumers cannot alter what they were given."""
    event = decoded(CHECKED_IN)
    with pytest.raises(ValueError, match="frozen"):
        event.subject = "someone-else"  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        event.data.method = "qr"  # type: ignore[misc]
