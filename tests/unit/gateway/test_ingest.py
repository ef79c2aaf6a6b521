"""Bodies to events without the network: shapes, limits, per-item errors, upcasting."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from producers.gateway.ingest import check_media_type, parse_events
from producers.gateway.problems import Problem
from schemas.examples import example


def batch(*types: str) -> list[dict[str, Any]]:
    """Example events with distinct ids."""
    events = [example(t) for t in types]
    for i, event in enumerate(events):
        event["id"] = f"evt-{i}"
    return events


def problem_of(body: bytes, max_events: int = 10) -> Problem:
    with pytest.raises(Problem) as caught:
        parse_events(body, max_events)
    return caught.value


def test_a_single_event_and_a_batch_both_decode() -> None:
    """An object is one event; an array is a batch, in order."""
    [one] = parse_events(orjson.dumps(example("volunteer.signed_up")), 10)
    assert one.type == "volunteer.signed_up"
    many = parse_events(orjson.dumps(batch("campaign.launched", "volunteer.checked_in")), 10)
    assert [e.id for e in many] == ["evt-0", "evt-1"]


def test_an_older_version_in_a_batch_is_upcast_to_the_current_one() -> None:
    """A v1 volunteer.registered next to current events comes out as the current version."""
    events = batch("volunteer.signed_up")
    events.append({**example("volunteer.registered", 1), "id": "evt-old"})
    decoded = parse_events(orjson.dumps(events), 10)
    assert decoded[1].version == 2
    assert decoded[1].dataschema == "urn:tatawwu:volunteer.registered:v2"


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        (b"", 400, "malformed"),
        (b"   ", 400, "malformed"),
        (b"[1,", 400, "malformed"),
        (b"{not json", 400, "malformed"),
        (b'"a string"', 400, "malformed"),
        (b"42", 400, "malformed"),
        (b"[]", 400, "malformed"),
        (b"{}", 422, "invalid_events"),
    ],
)
def test_bad_shapes_get_the_documented_status(body: bytes, status: int, slug: str) -> None:
    """Malformed JSON, non-object/array and empty batches are 400; an empty object is 422."""
    problem = problem_of(body)
    assert (problem.status, problem.slug) == (status, slug)


def test_too_many_events_is_413_whether_valid_or_not() -> None:
    """The event-count limit applies on the fast path and on the diagnosing path."""
    assert problem_of(orjson.dumps(batch(*["volunteer.signed_up"] * 4)), 3).status == 413
    assert problem_of(orjson.dumps([{}] * 4), 3).status == 413


def test_one_invalid_item_rejects_the_batch_with_per_item_errors() -> None:
    """Errors name the index, the field path, the rule and a message, for every bad item."""
    events: list[Any] = batch("volunteer.signed_up", "volunteer.signed_up", "volunteer.signed_up")
    events[1]["data"]["volunteer_id"] = "!bad"
    events[2] = ["not", "an", "object"]
    problem = problem_of(orjson.dumps(events))
    assert problem.status == 422
    assert [(e["index"], e["path"], e["rule"]) for e in problem.errors] == [
        (1, "data.volunteer_id", "pattern"),
        (2, "", "not_an_object"),
    ]
    assert "2 of 3 events are invalid" in problem.detail
    assert all(e["message"] for e in problem.errors)


def test_an_unknown_type_is_reported_as_such() -> None:
    """An unregistered type is a 422 with the decoder's reason as the rule."""
    problem = problem_of(
        orjson.dumps([{**example("volunteer.no_show"), "type": "volunteer.waved"}])
    )
    assert problem.errors[0]["rule"] == "unknown_type"


@pytest.mark.parametrize(
    "media",
    ["application/json", "application/cloudevents+json; charset=utf-8",
     "Application/CloudEvents-Batch+JSON"],
)  # fmt: skip
def test_json_and_cloudevents_media_types_are_accepted(media: str) -> None:
    """The three JSON media types pass, parameters and case notwithstanding."""
    check_media_type(media)


@pytest.mark.parametrize(
    "media", [None, "", "text/plain", "application/xml", "multipart/form-data"]
)
def test_other_media_types_are_415(media: str | None) -> None:
    """Anything else, or nothing, is refused with 415."""
    with pytest.raises(Problem) as caught:
        check_media_type(media)
    assert caught.value.status == 415
