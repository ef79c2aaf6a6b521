"""Versioning: v1 records replay into v2 events; unknown versions are refused by name."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from schema_strategies import dumps, events

from schemas import (
    DecodeError,
    Reason,
    VolunteerProfileUpdated,
    VolunteerRegistered,
    decode_event,
    encode_event,
    known_versions,
    spec_for,
)
from schemas.examples import example
from schemas.upcasters import split_full_name


@pytest.mark.parametrize(
    ("full_name", "given", "family"),
    [
        ("Fatima Al-Kuwari", "Fatima", "Al-Kuwari"),
        ("Mohammed bin Hamad Al Thani", "Mohammed bin Hamad Al", "Thani"),
        ("  Noura   Al-Sulaiti  ", "Noura", "Al-Sulaiti"),
        ("Madonna", "Madonna", None),
        ("عبدالله  المهندي", "عبدالله", "المهندي"),
    ],
)
def test_full_names_split_on_the_last_whitespace(
    full_name: str, given: str, family: str | None
) -> None:
    """The documented rule: last word is the family name; one word has none."""
    assert split_full_name(full_name) == (given, family)


def test_a_v1_registration_replays_as_a_v2_event() -> None:
    """A stored v1 record decodes into the current model, names split, the rest unchanged."""
    document = example("volunteer.registered", 1)
    event = decode_event(json.dumps(document))
    assert not isinstance(event, DecodeError), event.summary()
    assert isinstance(event.data, VolunteerRegistered)
    assert event.version == 2
    assert event.dataschema == "urn:tatawwu:volunteer.registered:v2"
    assert (event.data.given_name, event.data.family_name) == ("Fatima", "Al-Kuwari")
    assert event.id == document["id"]  # same id: a replay never counts twice
    v2 = example("volunteer.registered")["data"]
    assert event.data.model_dump(mode="json", exclude={"given_name", "family_name"}) == {
        key: value for key, value in v2.items() if key not in ("given_name", "family_name")
    }


def test_a_v1_profile_update_replays_with_the_name_split() -> None:
    """`full_name` in a v1 profile update becomes given_name and family_name."""
    event = decode_event(json.dumps(example("volunteer.profile_updated", 1)))
    assert not isinstance(event, DecodeError), event.summary()
    assert isinstance(event.data, VolunteerProfileUpdated)
    assert (event.data.given_name, event.data.family_name) == ("Fatima Ali", "Al-Kuwari")
    assert event.data.phone is None


def test_a_v1_profile_update_without_a_name_changes_no_name() -> None:
    """Without `full_name`, the upcast event leaves both name fields out."""
    document = example("volunteer.profile_updated", 1)
    document["data"] = {"volunteer_id": document["subject"], "language": "en"}
    event = decode_event(json.dumps(document))
    assert not isinstance(event, DecodeError), event.summary()
    assert {"given_name", "family_name"}.isdisjoint(event.data.model_fields_set)


@pytest.mark.parametrize("event_type", ["volunteer.registered", "volunteer.profile_updated"])
@given(data=st.data())
def test_any_valid_v1_record_replays_and_re_encodes_as_v2(
    event_type: str, data: st.DataObject
) -> None:
    """Every valid v1 document upcasts; the upcast name joins back to the v1 full name."""
    document = data.draw(events(event_type, version=1))
    event = decode_event(dumps(document))
    assert not isinstance(event, DecodeError), event.summary()
    assert event.version == spec_for(event_type).version == 2
    full_name = document["data"].get("full_name")
    if full_name is not None:
        joined = " ".join(filter(None, (event.data.given_name, event.data.family_name)))
        assert joined.split() == full_name.split()
    again = decode_event(encode_event(event))
    assert again == event
    assert json.loads(encode_event(event))["dataschema"].endswith(":v2")


def test_v1_records_are_validated_as_v1() -> None:
    """A v1 record with a v2 field is told about v1's rules, not v2's."""
    document = example("volunteer.registered", 1)
    document["data"]["given_name"] = "Fatima"
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    assert result.reason is Reason.INVALID_EVENT
    assert [error.path for error in result.errors] == ["data.given_name"]
    assert "v1" in result.detail


def test_a_v2_payload_labelled_v1_is_rejected() -> None:
    """The label decides the version: v2 data under a v1 dataschema misses `full_name`."""
    document = example("volunteer.registered")
    document["dataschema"] = "urn:tatawwu:volunteer.registered:v1"
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    assert "data.full_name" in [error.path for error in result.errors]


@pytest.mark.parametrize("version", [3, 9, 1000])
def test_unknown_versions_are_unsupported_not_invalid(version: int) -> None:
    """A version the registry does not know gives `unsupported_version`, naming known ones.

    The version sent is not repeated (errors quote no input); the partner has it.
    """
    document = example("volunteer.registered")
    document["dataschema"] = f"urn:tatawwu:volunteer.registered:v{version}"
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    assert result.reason is Reason.UNSUPPORTED_VERSION
    assert f"v{version}" not in result.detail
    assert "v1, v2" in result.detail
    assert result.event_type == "volunteer.registered"


def test_types_without_history_know_only_version_one() -> None:
    """Only the types that changed have more than one version."""
    assert known_versions("volunteer.registered") == [1, 2]
    assert known_versions("volunteer.signed_up") == [1]
    document = example("volunteer.signed_up")
    document["dataschema"] = "urn:tatawwu:volunteer.signed_up:v2"
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    assert result.reason is Reason.UNSUPPORTED_VERSION
