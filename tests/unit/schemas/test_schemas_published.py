"""The committed JSON Schemas match the code, and judge documents as the decoder does.

Known gaps, excluded from the equivalence checks on purpose (each is documented in the
schema descriptions or in schemas/export.py):
- cross-field rules JSON Schema cannot state: `subject` equals the payload's key field,
  `ends_at` after `starts_at`, `ends_on` on or after `starts_on`, `birth_year` at most the
  current year minus 10 (mutations marked `cross_field` in schema_strategies.py);
- calendar validity of date-times (`2025-02-30T10:00:00Z`): the schema gives the shape as a
  pattern; jsonschema checks `format: date-time` only with the optional rfc3339-validator;
  nor can it say that `9999-12-31T23:59:59-23:59` leaves the calendar once in UTC;
- Python's `re` lets `$` match before a final newline, so jsonschema accepts `"opp-1\\n"`
  where ECMA-262 (the JSON Schema regex dialect) and the decoder do not;
- integral floats (`5.0`) are integers to JSON Schema but not to the strict decoder;
- an unknown `type` is valid per the bare envelope schema but has no per-type schema.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from jsonschema import Draft202012Validator
from schema_mutations import MUTATIONS, broken_events
from schema_strategies import any_events, dumps, events

from schemas import CURRENT, EVENT_TYPES, SPECS, DecodeError, decode_event, parse_dataschema
from schemas.examples import example
from schemas.export import ENVELOPE_FILE, export_json_schemas, schema_file_name

PUBLISHED = Path(__file__).resolve().parents[3] / "schemas" / "published"
REGENERATE = "run `tatawwu schemas export schemas/published` and commit the result"


@cache
def validator(file_name: str) -> Draft202012Validator:
    """A validator for one committed document, with format checking on."""
    schema = json.loads((PUBLISHED / file_name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def schema_accepts(document: dict) -> bool:
    """Whether the committed schema for the document's type and version accepts it."""
    event_type = document["type"]
    parsed = parse_dataschema(document.get("dataschema") or "")
    version = parsed[1] if parsed else CURRENT[event_type].version
    return validator(schema_file_name(event_type, version)).is_valid(document)


def decoder_accepts(document: dict) -> bool:
    """Whether `decode_event` accepts the document."""
    return not isinstance(decode_event(dumps(document)), DecodeError)


def test_committed_documents_match_the_code(tmp_path: Path) -> None:
    """Regenerating the documents gives the committed files byte for byte."""
    written = {path.name: path.read_bytes() for path in export_json_schemas(tmp_path)}
    committed = {path.name: path.read_bytes() for path in PUBLISHED.glob("*.schema.json")}
    assert sorted(committed) == sorted(written), f"document set differs: {REGENERATE}"
    stale = [name for name in written if written[name] != committed[name]]
    assert not stale, f"{', '.join(stale)} out of date: {REGENERATE}"


def test_every_document_is_a_valid_draft_2020_12_schema_with_an_id() -> None:
    """Each document passes the metaschema and names its type and version in `$id`."""
    for type_, version in SPECS:
        schema = validator(schema_file_name(type_, version)).schema
        assert schema["$id"] == f"urn:tatawwu:{type_}:v{version}"
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert validator(ENVELOPE_FILE).schema["$id"] == "urn:tatawwu:envelope"


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_examples_are_valid_for_both_the_schema_and_the_decoder(event_type: str) -> None:
    """The documented example passes its type's schema, the envelope schema and the decoder."""
    document = example(event_type)
    assert schema_accepts(document)
    assert validator(ENVELOPE_FILE).is_valid(document)
    assert decoder_accepts(document)


@pytest.mark.parametrize("event_type", ["volunteer.registered", "volunteer.profile_updated"])
def test_v1_examples_pass_the_v1_schema(event_type: str) -> None:
    """Old records are checked against the old published document."""
    document = example(event_type, 1)
    assert schema_accepts(document)
    assert decoder_accepts(document)


# Hand-picked documents around the edges; each (type, path, value) is applied to the example.
EDGES = [
    ("volunteer.registered", "data.phone", "+97455501234"),
    ("volunteer.registered", "data.phone", "+9745550123"),
    ("volunteer.registered", "data.phone", "+974555012345678"),
    ("volunteer.registered", "data.phone", "+0974555012"),
    ("volunteer.registered", "data.phone", "+٩٧٤٥٥٥٠١٢٣٤"),
    ("volunteer.registered", "data.email", "a@b.qa"),
    ("volunteer.registered", "data.email", "a@b"),
    ("volunteer.registered", "data.email", "a..b@example.qa"),
    ("volunteer.registered", "data.email", "x" * 250 + "@b.qa"),
    ("volunteer.registered", "data.family_name", None),
    ("volunteer.registered", "data.given_name", "\u00a0"),
    ("volunteer.registered", "data.given_name", "نورة"),
    ("volunteer.registered", "data.birth_year", 1900),
    ("volunteer.registered", "data.birth_year", 1899),
    ("volunteer.registered", "data.birth_year", "1990"),
    ("volunteer.registered", "data.consent.sms", 1),
    ("volunteer.registered", "data.gender", "Female"),
    ("volunteer.hours_verified", "data.hours", 24),
    ("volunteer.hours_verified", "data.hours", 24.000001),
    ("volunteer.hours_verified", "data.hours", 1e-9),
    ("volunteer.hours_verified", "data.hours", 0),
    ("volunteer.hours_verified", "data.hours", "3"),
    ("opportunity.published", "data.capacity", 1),
    ("opportunity.published", "data.capacity", 100_001),
    ("opportunity.published", "data.min_age", 0),
    ("opportunity.published", "data.min_age", -1),
    ("campaign.launched", "data.starts_on", "2025-3-1"),
    ("campaign.launched", "data.starts_on", "2025-03-01T00:00:00Z"),
    ("campaign.launched", "data.target_volunteers", 10_000_000),
    ("campaign.launched", "data.target_volunteers", 10_000_001),
    ("volunteer.checked_in", "time", "2025-03-21T08:02:15.123456+03:00"),
    ("volunteer.checked_in", "time", "2025-03-21T08:02:15"),
    ("volunteer.checked_in", "time", "2025-03-21"),
    ("volunteer.checked_in", "data.at", "2025-03-21t08:02:15z"),
    ("volunteer.checked_in", "datacontenttype", "text/plain"),
    ("volunteer.checked_in", "correlationid", None),
    ("volunteer.checked_in", "correlationid", "x" * 129),
    ("volunteer.checked_in", "source", "platform/gateway"),
    ("volunteer.checked_in", "source", "partner/"),
    ("volunteer.checked_in", "specversion", "1.0.0"),
    ("volunteer.checked_in", "dataschema", None),
    ("volunteer.checked_in", "id", "x" * 128),
    ("volunteer.checked_in", "id", "x" * 129),
    ("volunteer.checked_in", "data.method", "QR"),
    ("volunteer.profile_updated", "data.email", None),
    ("volunteer.profile_updated", "data.given_name", "Fatima"),
    ("notification.sent", "data.template", "Reminder"),
    ("notification.failed", "data.error", "x" * 501),
]


def _with(event_type: str, path: str, value: object) -> dict:
    document = example(event_type)
    target = document
    *parents, leaf = path.split(".")
    for part in parents:
        target = target[part]
    target[leaf] = value
    return document


@pytest.mark.parametrize(
    ("event_type", "path", "value"),
    [pytest.param(*edge, id=f"{edge[1]}={edge[2]!r:.30}") for edge in EDGES],
)
def test_schema_and_decoder_agree_on_edge_values(event_type: str, path: str, value: object) -> None:
    """For each edge value, the JSON Schema accepts it exactly when the decoder does."""
    document = _with(event_type, path, value)
    assert schema_accepts(document) == decoder_accepts(document)


def test_the_edge_corpus_has_both_outcomes() -> None:
    """The corpus exercises acceptance and rejection (an all-pass corpus proves nothing)."""
    outcomes = {decoder_accepts(_with(*edge)) for edge in EDGES}
    assert outcomes == {True, False}


@given(document=any_events())
def test_schema_accepts_what_the_decoder_accepts(document: dict) -> None:
    """Every generated valid event passes both the decoder and its published schema."""
    assert decoder_accepts(document)
    assert schema_accepts(document)


@given(document=events("volunteer.registered", version=1))
def test_v1_schema_accepts_what_the_decoder_replays(document: dict) -> None:
    """Generated v1 registrations pass the v1 document and decode (upcast)."""
    assert decoder_accepts(document)
    assert schema_accepts(document)


@given(case=broken_events(schema_expressible=True))
def test_schema_rejects_what_the_decoder_rejects(case: tuple[dict, str, str]) -> None:
    """Every schema-expressible mutation is refused by the published schema as well."""
    document, mutation, _ = case
    if document.get("type") not in EVENT_TYPES:  # type dropped or replaced: no schema
        return
    assert not decoder_accepts(document), mutation
    assert not schema_accepts(document), mutation


def test_cross_field_gaps_are_listed_and_really_gaps() -> None:
    """The excluded mutations are exactly those the schema accepts but the decoder refuses."""
    cross = {mutation.name for mutation in MUTATIONS if mutation.cross_field}
    assert cross == {
        "subject is not the key",
        "ends_at not after starts_at",
        "ends_on before starts_on",
        "born too recently",
    }
    document = example("opportunity.published")
    document["data"]["ends_at"] = document["data"]["starts_at"]
    assert schema_accepts(document)
    assert not decoder_accepts(document)
