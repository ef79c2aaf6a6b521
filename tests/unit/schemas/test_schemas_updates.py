"""Partial updates: absent = unchanged, null = clear where allowed, refused where not.

One rule through the gateway and Kafka: `encode_event` keeps the difference between an
absent field and an explicit null, so a re-encoded update says what the partner sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from schema_mutations import NOT_CLEARABLE
from test_schemas_published import schema_accepts

from infra.bus import _grouped
from producers.gateway.ingest import parse_events
from schemas import DecodeError, Event, decode_event, encode_event
from schemas.examples import example

VALUES: dict[str, Any] = {
    "title_ar": "تنظيف الشواطئ",
    "title_en": "Beach clean-up",
    "municipality": "doha",
    "starts_on": "2025-03-01",
    "ends_on": "2025-05-15",
    "target_volunteers": 650,
    "target_hours": 0,
    "given_name": "Amna",
    "phone": "+97455501234",
    "email": "amna@example.qa",
    "language": "en",
}


def update(event_type: str, **data: Any) -> dict:
    """An update of `event_type` with exactly these payload fields (besides its key)."""
    document = example(event_type)
    key = "campaign_id" if event_type == "campaign.updated" else "volunteer_id"
    document["data"] = {key: document["subject"], **data}
    return document


def decoded(document: dict) -> Event[Any]:
    """Decode a document that must be valid."""
    result = decode_event(json.dumps(document, ensure_ascii=False))
    assert not isinstance(result, DecodeError), result.summary()
    return result


CASES = [(event_type, field) for event_type, fields in NOT_CLEARABLE.items() for field in fields]


@pytest.mark.parametrize(("event_type", "field"), CASES)
def test_null_is_refused_where_a_field_cannot_be_cleared(event_type: str, field: str) -> None:
    """`field: null` is `not_clearable` at that field, by the decoder and the schema alike."""
    document = update(event_type, **{field: None})
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    [error] = [error for error in result.errors if error.path == f"data.{field}"]
    assert error.rule == "not_clearable"
    assert error.message == (
        f"not_clearable: {field} cannot be cleared: send a value, or omit it to leave it unchanged"
    )
    assert not schema_accepts(document)


@pytest.mark.parametrize(("event_type", "field"), CASES)
def test_an_absent_field_is_unchanged_and_a_value_is_a_change(event_type: str, field: str) -> None:
    """Absent: unset and not written back; present: set and written back."""
    absent = decoded(update(event_type))
    assert field not in absent.data.model_fields_set
    assert field not in json.loads(encode_event(absent))["data"]
    changed = decoded(update(event_type, **{field: VALUES[field]}))
    assert field in changed.data.model_fields_set
    assert json.loads(encode_event(changed))["data"][field] == VALUES[field]
    assert schema_accepts(update(event_type, **{field: VALUES[field]}))


def test_family_name_null_clears_it_and_survives_encoding() -> None:
    """`family_name: null` (with `given_name`) is valid, set, and written back as null."""
    document = update("volunteer.profile_updated", given_name="Madonna", family_name=None)
    event = decoded(document)
    assert event.data.family_name is None
    assert "family_name" in event.data.model_fields_set
    written = json.loads(encode_event(event))
    assert written["data"] == {"volunteer_id": "vol-10077", "given_name": "Madonna",
                               "family_name": None}  # fmt: skip
    again = decode_event(encode_event(event))
    assert again == event
    assert again.data.model_fields_set == event.data.model_fields_set
    assert schema_accepts(document)


def test_family_name_still_only_changes_with_given_name() -> None:
    """Clearing the family name alone is refused at `given_name`, as before."""
    result = decode_event(json.dumps(update("volunteer.profile_updated", family_name=None)))
    assert isinstance(result, DecodeError)
    assert [(e.path, e.rule) for e in result.errors] == [("data.given_name", "order")]


def test_envelope_optionals_are_omitted_when_none_even_if_sent_as_null() -> None:
    """`correlationid: null` decodes; encoding leaves it out instead of writing null."""
    document = example("volunteer.checked_in")
    document["correlationid"] = None
    event = decoded(document)
    written = json.loads(encode_event(event))
    assert "correlationid" not in written
    assert written["dataschema"] == "urn:tatawwu:volunteer.checked_in:v1"
    assert decode_event(encode_event(event)) == event


def test_a_registration_without_family_name_differs_from_one_with_null() -> None:
    """Both mean 'no family name'; each is written back as it came."""
    absent = example("volunteer.registered")
    absent["data"].pop("family_name", None)
    null = example("volunteer.registered")
    null["data"]["family_name"] = None
    assert "family_name" not in json.loads(encode_event(decoded(absent)))["data"]
    assert json.loads(encode_event(decoded(null)))["data"]["family_name"] is None


def test_a_v1_one_word_name_change_clears_the_family_name_explicitly() -> None:
    """v1 `full_name` replaced the whole name: a mononym becomes `family_name: null`."""
    document = example("volunteer.profile_updated", 1)
    document["data"] = {"volunteer_id": document["subject"], "full_name": "Madonna",
                        "phone": None}  # fmt: skip
    event = decoded(document)
    assert (event.data.given_name, event.data.family_name) == ("Madonna", None)
    assert event.data.model_fields_set == {"volunteer_id", "given_name", "family_name"}


class _OnePartition:
    """Just enough of AIOKafkaProducer for the gateway's grouping: one partition per topic."""

    async def partitions_for(self, topic: str) -> set[int]:
        return {0}


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
async def test_the_gateway_path_keeps_family_name_null(batch: bool) -> None:
    """Gateway parse -> the bytes it sends to Kafka -> consumer decode: null is still there."""
    document = update("volunteer.profile_updated", given_name="Madonna", family_name=None)
    body = json.dumps([document] if batch else document).encode()
    events = parse_events(body, max_events=10)
    groups, _ = await _grouped(_OnePartition(), events)  # type: ignore[arg-type]
    [(key, value, _, _)] = [record for records in groups.values() for record in records]
    assert key == b"vol-10077"
    consumed = decode_event(value)
    assert not isinstance(consumed, DecodeError), consumed.summary()
    assert json.loads(value)["data"]["family_name"] is None
    assert "family_name" in consumed.data.model_fields_set
    assert consumed == events[0]
