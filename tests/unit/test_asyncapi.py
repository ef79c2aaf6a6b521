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


def _served(app: object) -> tuple[bytes, str]:
    from fastapi.testclient import TestClient

    client = TestClient(app)  # type: ignore[arg-type]  # no lifespan: no database needed
    document, page = client.get("/asyncapi"), client.get("/asyncapi.html")
    assert document.status_code == page.status_code == 200
    assert document.headers["content-type"].startswith("application/json")
    return document.content, page.text


def test_the_gateway_and_the_read_api_serve_the_generated_document() -> None:
    """`GET /asyncapi` on both apps is the committed document, which is the generated one."""
    from consumers.api.app import create_app as read_api
    from infra.settings import Settings
    from producers.gateway.app import create_app as gateway

    generated = render(asyncapi_document())
    for app in (gateway(Settings()), read_api(Settings())):
        served, page = _served(app)
        assert served == generated == COMMITTED.read_bytes()
        assert '"asyncapi":"3.0.0"' in page.replace(" ", "").replace("\n", "")


def test_events_carry_the_cloudevents_content_type_and_their_subject_as_key() -> None:
    """Every message but dead letters and replays is structured-mode CloudEvents JSON."""
    document = asyncapi_document()
    assert document["defaultContentType"] == "application/cloudevents+json"
    for name, message in document["components"]["messages"].items():
        raw = name.startswith("tatawwu.deadletter:") or ":replay:" in name
        expected = "application/octet-stream" if raw else "application/cloudevents+json"
        assert message["contentType"] == expected, name
        assert message["bindings"]["kafka"]["key"]["type"] == "string"


def test_subscriptions_carry_the_envelopes_of_the_types_their_projector_handles() -> None:
    """A receive channel's payload names event envelopes, not an empty schema."""
    document = asyncapi_document()
    schemas = document["components"]["schemas"]
    payload = document["components"]["messages"]["tatawwu.signups:campaigns:SubscribeMessage"]
    ref = payload["payload"]["$ref"].rsplit("/", 1)[-1]
    text = str(schemas[ref])
    assert "Event" in text, text
