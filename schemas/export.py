"""The published contract: one JSON Schema (draft 2020-12) per event type and version.

Each document describes the whole envelope with that type's payload, so a partner can
validate exactly what they send. `json_schemas()` builds the documents in memory (other
exporters, such as the AsyncAPI one, can reuse them); `export_json_schemas()` writes them.
Output is deterministic (sorted keys, two-space indent, trailing newline) so that the
committed copies in `schemas/published/` can be compared byte for byte.

What JSON Schema cannot say, and the decoder enforces (each document says it in prose):
`subject` equals the payload's key field; `ends_at` after `starts_at`, `ends_on` on or
after `starts_on`; `birth_year` at most the current year minus 10; an instant whose offset
takes it outside the years 0001-9999 in UTC (rule `out_of_range`). Partial updates are
expressed: fields that cannot be cleared are published without `null` (rule
`not_clearable` in the decoder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas import registry
from schemas.envelope import Event

DRAFT = "https://json-schema.org/draft/2020-12/schema"
ENVELOPE_FILE = "envelope.schema.json"


class OpenPayload(BaseModel):
    """Any JSON object: the payload as the bare envelope sees it."""

    model_config = ConfigDict(extra="allow", title="Data")


class AnyEvent(Event[OpenPayload]):
    """A Tatawwu CloudEvents 1.0 envelope, whatever its type; `data` is checked per type."""


def schema_file_name(event_type: str, version: int) -> str:
    """The file name of one published document, e.g. `volunteer.registered.v2.schema.json`."""
    return f"{event_type}.v{version}.schema.json"


def json_schemas() -> dict[str, dict[str, Any]]:
    """Every published document by file name: all registered versions plus the envelope."""
    documents = {ENVELOPE_FILE: _document(AnyEvent, "urn:tatawwu:envelope")}
    for spec in registry.SPECS.values():
        documents[schema_file_name(spec.type, spec.version)] = _document(
            spec.envelope, spec.dataschema
        )
    return documents


def render(document: dict[str, Any]) -> str:
    """The canonical text of a document: sorted keys, UTF-8, trailing newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_json_schemas(directory: Path | str) -> list[Path]:
    """Write every document into `directory` (created if needed); return the paths written."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in sorted(json_schemas().items()):
        path = target / name
        path.write_text(render(document), encoding="utf-8")
        written.append(path)
    return written


def _document(model: type[BaseModel], schema_id: str) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DRAFT, "$id": schema_id, **schema}
