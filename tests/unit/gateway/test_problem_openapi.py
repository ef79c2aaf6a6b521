"""Both apps declare the one problem+json schema in OpenAPI; the gateway declares its body."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from jsonschema import Draft202012Validator

from consumers.api.app import create_app as create_api
from infra.problems import CATALOG, MEDIA_TYPE, SCHEMA_NAME, Problem, problem_schema
from infra.settings import Settings
from producers.gateway import create_app as create_gateway
from schemas.examples import example
from schemas.registry import CURRENT
from tests.support.problems import problem_validator

PROBLEM_REF = {"$ref": f"#/components/schemas/{SCHEMA_NAME}"}


def documents() -> dict[str, dict[str, Any]]:
    apps: dict[str, FastAPI] = {
        "gateway": create_gateway(Settings()),
        "api": create_api(Settings()),
    }
    return {name: app.openapi() for name, app in apps.items()}


@pytest.fixture(scope="module")
def openapi() -> dict[str, dict[str, Any]]:
    return documents()


def test_both_documents_declare_the_same_problem_schema(openapi) -> None:
    """`components.schemas.Problem` is the shared definition, the same in both documents."""
    schema, definitions = problem_schema()
    for document in openapi.values():
        schemas = document["components"]["schemas"]
        assert schemas[SCHEMA_NAME] == schema
        for name, definition in definitions.items():
            assert schemas[name] == definition
        assert "HTTPValidationError" not in schemas


def test_every_error_response_is_a_problem(openapi) -> None:
    """Each declared 4xx/5xx answer, and each operation's default, is problem+json."""
    for name, document in openapi.items():
        for path, operations in document["paths"].items():
            for method, operation in operations.items():
                responses = operation["responses"]
                errors = {s: r for s, r in responses.items() if s[:1] in {"4", "5"}}
                if path not in {"/health", "/metrics"}:
                    errors["default"] = responses["default"]
                for status, response in errors.items():
                    where = (name, method, path, status)
                    assert response["content"] == {MEDIA_TYPE: {"schema": PROBLEM_REF}}, where


def test_the_gateway_declares_the_events_body_and_each_example_fits_it(openapi) -> None:
    """`POST /v1/events` takes one CloudEvent or a batch; every example event validates."""
    document = openapi["gateway"]
    operation = document["paths"]["/v1/events"]["post"]
    content = operation["requestBody"]["content"]
    assert set(content) == {
        "application/json",
        "application/cloudevents+json",
        "application/cloudevents-batch+json",
    }
    ref = content["application/json"]["schema"]["$ref"]
    root = {"$ref": ref, "components": document["components"]}
    validator = Draft202012Validator(root)
    events = [example(event_type) for event_type in CURRENT]
    for event in events:
        validator.validate(event)
    validator.validate(events)
    assert not validator.is_valid({**events[0], "type": "volunteer.teleported"})
    assert set(operation["responses"]) >= {"202", "400", "401", "403", "413", "422", "429", "503"}


def test_every_catalogued_problem_validates_against_each_document(openapi) -> None:
    """A problem of each type, with per-event errors, fits the schema both documents declare."""
    validators = [problem_validator(document) for document in openapi.values()]
    error = {"index": 1, "path": "data.phone", "rule": "pattern", "message": "not E.164"}
    for code, kind in CATALOG.items():
        body = Problem(kind.status, code, None, "why", errors=[error]).body(instance="/v1/x")
        for validator in validators:
            validator.validate(body)
    bad = {**Problem(400, "malformed", None, "x").body(), "type": "about:blank"}
    assert not validators[0].is_valid(bad)
