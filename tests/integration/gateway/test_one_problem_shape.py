"""The gateway and the read API answer errors in one shape, the one both OpenAPI documents declare."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from gateway_helpers import Partner

from consumers.api.app import create_app as create_api
from infra.settings import Settings
from tests.support.problems import assert_problem, problem_validator

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
async def api(stack: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The read API over schemas no projector created (so read models are missing)."""
    absent = {name: f"problem_shape_absent_{name}" for name in ("campaigns", "volunteers")}
    app = create_api(stack, absent, create_views=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


async def test_both_apps_errors_validate_against_both_declared_schemas(
    gateway: FastAPI, client: httpx.AsyncClient, partner: Partner, api: httpx.AsyncClient
) -> None:
    """Errors of every kind from either app fit the `Problem` each app's OpenAPI declares."""
    bad = partner.event("volunteer.registered")
    bad["data"]["phone"] = "not-a-phone"
    answers = [
        (await client.get("/v1/nothing"), 404, "not_found"),
        (await client.post("/v1/events", content=b"{}"), 401, "unauthorized"),
        (await client.post("/v1/events", content=b"[", headers=partner.headers), 400, "malformed"),
        (
            await client.post("/v1/events", json=[bad], headers=partner.headers),
            422,
            "invalid_events",
        ),
        (await api.get("/v1/nothing"), 404, "not_found"),
        (await api.get("/v1/volunteers/vol-1"), 401, "unauthorized"),
        (await api.get("/v1/campaigns", params={"limit": "many"}), 422, "invalid_request"),
        (await api.get("/v1/campaigns", params={"cursor": "x!"}), 400, "bad_cursor"),
        (await api.get("/v1/campaigns"), 503, "read_model_unavailable"),
    ]
    documents = [(await http.get("/openapi.json")).json() for http in (client, api)]
    validators = [problem_validator(document) for document in documents]
    assert (
        documents[0]["components"]["schemas"]["Problem"]
        == (documents[1]["components"]["schemas"]["Problem"])
    )
    for response, status, code in answers:
        body = assert_problem(response, status, code)
        assert body["instance"] == response.request.url.path
        for validator in validators:
            validator.validate(body)
    invalid = answers[3][0].json()
    assert [(e["index"], e["path"], e["rule"]) for e in invalid["errors"]] == [
        (0, "data.phone", "pattern")
    ]
