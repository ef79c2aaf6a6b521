"""Decode errors name the field, the rule and what it asks for, never the value; safe to log."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from schema_hostile import SPEC_KEYS
from schema_strategies import events

from infra.problems import ProblemDocument, decode_problem
from schemas import DecodeError, FieldError, Reason, decode_event
from schemas.examples import example


def rejected(event_type: str, **data_changes: object) -> DecodeError:
    """Decode the example of `event_type` with some payload fields changed; expect an error."""
    document = example(event_type)
    document["data"].update(data_changes)
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError), f"{data_changes} was accepted"
    return result


def error_at(result: DecodeError, path: str) -> FieldError:
    """The field error reported at `path`."""
    matches = [error for error in result.errors if error.path == path]
    assert matches, result.summary()
    return matches[0]


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("volunteer.registered", "given_name", " \t "),
        ("volunteer.registered", "family_name", "Al\x00Kuwari"),
        ("volunteer.registered", "phone", "0097455501234"),
        ("volunteer.registered", "email", "fatima.alkuwari(at)example.qa"),
        ("volunteer.registered", "birth_year", 1850),
        ("volunteer.registered", "municipality", "Lusail North"),
        ("campaign.launched", "campaign_id", "cmp sensitive-id"),
        ("campaign.launched", "title_en", "Call +97455501234 " * 12),
        ("campaign.launched", "starts_on", "2025-02-30"),
        ("volunteer.checked_in", "at", "2025-03-21T08:02:11"),
        ("volunteer.hours_verified", "hours", 31.5),
        ("notification.failed", "error", "mailbox fatima@example.qa\u2028full"),
    ],
)
def test_offending_values_are_never_repeated(event_type: str, field: str, value: object) -> None:
    """The path and rule are named; the value sent appears nowhere in the error."""
    result = rejected(event_type, **{field: value})
    error = error_at(result, f"data.{field}")
    assert error.message.startswith(f"{error.rule}: ")
    problem = decode_problem(result).body()
    text = json.dumps(problem, ensure_ascii=False) + result.summary() + repr(result)
    forms = {str(value).strip(), json.dumps(value)[1:-1].strip(), repr(value)[1:-1]}
    for shown in filter(None, forms):  # as sent, JSON-escaped, Python-escaped
        assert shown not in text


def test_a_v1_full_name_is_redacted_too() -> None:
    """The v1 `full_name` is personal data: a bad one is not echoed either."""
    document = example("volunteer.registered", 1)
    document["data"]["full_name"] = "Fatima\x07Al-Kuwari"
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    assert "Fatima" not in repr(result)
    assert error_at(result, "data.full_name").rule == "pattern"


def test_unknown_fields_are_named_but_their_values_are_not_shown() -> None:
    """A misspelt field (which may hold anything) is named; its value is redacted."""
    result = rejected("volunteer.registered", fullname="Fatima Al-Kuwari")
    error = error_at(result, "data.fullname")
    assert error.rule == "unknown_field"
    assert "Fatima" not in repr(result)


def test_wrong_enum_values_name_the_allowed_ones_not_the_one_sent() -> None:
    """A bad municipality lists the values allowed; the value received is not repeated."""
    error = error_at(rejected("campaign.launched", municipality="Lusail"), "data.municipality")
    assert error.rule == "enum"
    assert "Lusail" not in error.message
    assert "'al_shahaniya'" in error.message


def test_a_type_error_says_which_json_kind_came_but_not_its_value() -> None:
    """A number where a string belongs is reported as 'a number', not as the number."""
    error = error_at(rejected("volunteer.signed_up", campaign_id=987654321), "data.campaign_id")
    assert error.rule == "type"
    assert "got a number" in error.message
    assert "987654321" not in error.message


@pytest.mark.parametrize(
    ("event_type", "changes", "path", "rule"),
    [
        ("volunteer.hours_verified", {"hours": 0}, "data.hours", "exclusive_minimum"),
        ("volunteer.hours_verified", {"hours": 25}, "data.hours", "maximum"),
        ("opportunity.published", {"capacity": 0}, "data.capacity", "minimum"),
        ("opportunity.published", {"min_age": 101}, "data.min_age", "maximum"),
        ("campaign.launched", {"target_hours": -1}, "data.target_hours", "minimum"),
        ("campaign.launched", {"title_ar": ""}, "data.title_ar", "pattern"),
        ("campaign.launched", {"title_en": "x" * 201}, "data.title_en", "max_length"),
        ("campaign.launched", {"ends_on": "2025-02-28"}, "data.ends_on", "order"),
        ("campaign.launched", {"starts_on": "2025-02-30"}, "data.starts_on", "format"),
        ("campaign.updated", {"starts_on": "2025-06-01"}, "data.ends_on", "order"),
        ("opportunity.published", {"ends_at": "2025-03-21T05:00:00Z"}, "data.ends_at", "order"),
        ("volunteer.checked_in", {"at": "2025-03-21T08:02:11"}, "data.at", "timezone"),
        ("volunteer.checked_in", {"method": "nfc"}, "data.method", "enum"),
        ("volunteer.signed_up", {"campaign_id": 42}, "data.campaign_id", "type"),
        ("volunteer.registered", {"birth_year": 2030}, "data.birth_year", "too_young"),
        (
            "volunteer.registered",
            {"consent": {"sms": "yes", "email": 1}},
            "data.consent.sms",
            "type",
        ),
        ("volunteer.profile_updated", {"family_name": "Al-Kuwari"}, "data.given_name", "order"),
        ("organization.registered", {"sector": "ngo"}, "data.sector", "enum"),
        ("notification.sent", {"channel": "whatsapp"}, "data.channel", "enum"),
        ("notification.failed", {"attempts": 0}, "data.attempts", "minimum"),
    ],
)
def test_each_rule_is_reported_at_its_field_with_its_name(
    event_type: str, changes: dict, path: str, rule: str
) -> None:
    """The error path and rule code say exactly what to fix."""
    error = error_at(rejected(event_type, **changes), path)
    assert error.rule == rule
    assert error.message.startswith(f"{rule}: ")


def test_subject_mismatch_is_reported_at_subject() -> None:
    """A subject that is not the payload's key field is an error at `subject`."""
    document = example("volunteer.signed_up")
    document["subject"] = "vol-other"
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    error = error_at(result, "subject")
    assert (error.rule, "data.volunteer_id" in error.message) == ("subject_mismatch", True)


def test_a_decode_error_becomes_the_gateways_problem_document() -> None:
    """`decode_problem` gives the one RFC 9457 shape the gateway and the read API answer."""
    problem = decode_problem(rejected("volunteer.checked_in", method="nfc")).body()
    assert problem["status"] == 422
    assert problem["type"] == "https://tatawwu.example/problems/invalid_events"
    assert problem["code"] == "invalid_events"
    assert problem["errors"][0] == {
        "index": 0,
        "path": "data.method",
        "rule": "enum",
        "message": problem["errors"][0]["message"],
    }
    ProblemDocument.model_validate(problem)  # the documented schema, no extra members
    json.dumps(problem)  # serialisable as is
    assert decode_problem(decode_event(b"{not json")).status == 400
    assert decode_problem(decode_event(b" " * 70_000)).status == 413


def test_summary_is_one_line_naming_reason_and_fields() -> None:
    """`summary()` fits a log line: reason, detail, first errors."""
    summary = rejected("volunteer.checked_in", method="nfc", at="noon").summary()
    assert "\n" not in summary
    assert summary.startswith("invalid_event: ")
    assert "data.method" in summary
    assert "data.at" in summary


def test_as_dict_round_trips_through_json() -> None:
    """`as_dict()` holds only JSON types, including the machine reason."""
    result = rejected("volunteer.signed_up", opportunity_id="")
    assert json.loads(json.dumps(result.as_dict()))["reason"] == Reason.INVALID_EVENT


MARKER = "Qzmrk"  # lowercase, it is also a valid event type part
MARKER_NUMBERS = [987654321, -987654321, 9876543.21]
_marked_strings = st.sampled_from(
    [
        MARKER,
        f"{MARKER}\x00",
        f"+974{MARKER}",
        "x" * 250 + MARKER,
        f"{MARKER}@{MARKER}.qa",
        f"{MARKER}\u2028",
        f" {MARKER} ",
        MARKER * 40,
        f"2025-13-01T{MARKER}",
        f"urn:tatawwu:{MARKER}:v1",
    ]
)


@st.composite
def marked_events(draw: st.DrawFn, event_type: str, version: int) -> dict:
    """A document whose every string and number carries the marker, type and dataschema too."""
    document = copy.deepcopy(draw(events(event_type, version)))

    def mark(obj: dict) -> None:
        for key, value in obj.items():
            if isinstance(value, dict):
                mark(value)
            elif isinstance(value, str | bool):
                obj[key] = draw(_marked_strings)
            elif isinstance(value, int | float):
                obj[key] = draw(st.sampled_from(MARKER_NUMBERS))

    mark(document)
    document["type"] = draw(st.sampled_from([event_type, f"{MARKER.lower()}.event", MARKER]))
    document["dataschema"] = draw(
        st.sampled_from(
            [
                f"urn:tatawwu:{event_type}:v{version}",
                f"urn:tatawwu:{event_type}:v9876",
                f"urn:tatawwu:{MARKER.lower()}.event:v1",
                MARKER,
            ]
        )
    )
    return document


@pytest.mark.parametrize(("event_type", "version"), SPEC_KEYS)
@settings(max_examples=10)
@given(data=st.data())
def test_errors_never_quote_what_was_sent(
    event_type: str, version: int, data: st.DataObject
) -> None:
    """No summary, detail or field error repeats a value sent: markers everywhere stay out."""
    document = data.draw(marked_events(event_type, version))
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    errors = json.dumps([error.as_dict() for error in result.errors], ensure_ascii=False)
    text = f"{result.summary()} {result.detail} {errors}".lower()
    assert MARKER.lower() not in text
    for number in ("987654321", "9876543", "9876"):
        assert number not in text
