"""Decode errors name the field, the rule and (unless personal) the value; safe to log."""

from __future__ import annotations

import json

import pytest

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
    ("field", "value"),
    [
        ("given_name", " \t "),
        ("family_name", "Al\x00Kuwari"),
        ("phone", "0097455501234"),
        ("email", "fatima.alkuwari(at)example.qa"),
        ("birth_year", 1850),
    ],
)
def test_personal_values_are_redacted_from_errors(field: str, value: object) -> None:
    """The rule is named but the offending personal value is never repeated."""
    result = rejected("volunteer.registered", **{field: value})
    error = error_at(result, f"data.{field}")
    assert "(value redacted)" in error.message
    text = json.dumps(result.to_problem()) + result.summary() + repr(result)
    assert str(value).strip() not in text if str(value).strip() else True


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


def test_wrong_enum_values_are_shown_with_the_allowed_ones() -> None:
    """A bad municipality names the value received and the values allowed."""
    error = error_at(rejected("campaign.launched", municipality="Lusail"), "data.municipality")
    assert error.rule == "enum"
    assert "'Lusail'" in error.message
    assert "'al_shahaniya'" in error.message


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


def test_problem_details_carry_status_reason_and_errors() -> None:
    """`to_problem()` is an RFC 9457 body a gateway can return as is."""
    problem = rejected("volunteer.checked_in", method="nfc").to_problem()
    assert problem["status"] == 422
    assert problem["type"] == "urn:tatawwu:problem:invalid_event"
    assert problem["event_type"] == "volunteer.checked_in"
    assert problem["errors"][0] == {
        "path": "data.method",
        "rule": "enum",
        "message": problem["errors"][0]["message"],
    }
    json.dumps(problem)  # serialisable as is
    assert decode_event(b"[]").to_problem()["status"] == 400
    assert decode_event(b" " * 70_000).to_problem()["status"] == 413


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
