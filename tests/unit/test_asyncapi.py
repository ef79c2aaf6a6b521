"""The AsyncAPI document FastStream generates for the bus, and its committed copy."""

from __future__ import annotations

from pathlib import Path

from schemas.topics import CATALOG
from tatawwu.asyncapi import asyncapi_document, render

COMMITTED = Path(__file__).resolve().parents[2] / "schemas" / "published" / "asyncapi.json"


def test_committed_asyncapi_document_matches_the_code() -> None:
    """Regenerating gives the committed bytes (else: tatawwu schemas export schemas/published)."""
    assert render(asyncapi_document()) == COMMITTED.read_bytes(), (
        "schemas/published/asyncapi.json is stale: run `tatawwu schemas export schemas/published`"
    )


def test_asyncapi_document_names_every_topic_and_its_event_types() -> None:
    """Each catalog topic is a channel; the volunteers channel carries the v2 registration."""
    document = asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    addresses = {channel["address"] for channel in document["channels"].values()}
    assert {spec.name for spec in CATALOG} <= addresses
    schemas = document["components"]["schemas"]
    assert any("VolunteerRegistered" in name for name in schemas)
