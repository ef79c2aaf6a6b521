"""Checking error answers against the one problem+json shape both apps declare."""

from __future__ import annotations

from typing import Any

import httpx
from jsonschema import Draft202012Validator

from infra.problems import CATALOG, MEDIA_TYPE, SCHEMA_NAME, TYPE_BASE, problem_schema


def problem_validator(openapi: dict[str, Any] | None = None) -> Draft202012Validator:
    """A validator for `Problem` as `openapi` declares it (default: the shared definition)."""
    if openapi is None:
        schema, definitions = problem_schema()
        schemas = {**definitions, SCHEMA_NAME: schema}
    else:
        schemas = openapi["components"]["schemas"]
    root = {"$ref": f"#/components/schemas/{SCHEMA_NAME}", "components": {"schemas": schemas}}
    return Draft202012Validator(root, format_checker=Draft202012Validator.FORMAT_CHECKER)


_SHARED = problem_validator()


def assert_problem(
    response: httpx.Response, status: int, code: str | None = None
) -> dict[str, Any]:
    """The response is a problem with `status` (and `code`) in the shared shape; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    _SHARED.validate(body)
    assert body["status"] == status
    assert body["code"] in CATALOG, body["code"]
    assert body["type"] == TYPE_BASE + body["code"]
    assert body["title"] == CATALOG[body["code"]].title
    assert body["detail"]
    if code is not None:
        assert body["code"] == code, body
    return body
