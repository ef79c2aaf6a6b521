"""The provider webhooks admit only signed, fresh, never-seen requests (401 problem+json)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from consumers.notifications import build_projector
from consumers.runtime import bookkeeping
from infra.db import connect
from infra.settings import Settings
from infra.webhook_signing import signed_headers
from tests.support.gateway import gateway

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
SECRET = b"signature-tests-secret"
INBOUND = "/v1/webhooks/sms/inbound"


@pytest.fixture
async def client(stack: Settings, unique: str) -> AsyncIterator[httpx.AsyncClient]:
    """A gateway whose webhooks look volunteers up in a fresh notifier schema."""
    schema = f"ntf_sig_{unique}"
    settings = stack.model_copy(update={"webhook_secret": SecretStr(SECRET.decode()),
                                        "webhook_notifier_schema": schema})  # fmt: skip
    conn = await connect(settings)
    try:
        await bookkeeping.prepare_schema(conn, build_projector(settings), schema)
    finally:
        await conn.close()
    async with gateway(settings) as (_, client):
        yield client


def _reply(unique: str, text: str = "hello") -> bytes:
    return json.dumps({"message_id": f"in-{unique}-{text}", "from": "+97400000002",
                       "body": text}).encode()  # fmt: skip


async def _post(client: httpx.AsyncClient, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return await client.post(INBOUND, content=body,
                             headers={"content-type": "application/json", **headers})  # fmt: skip


def _refusal(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "https://tatawwu.example/problems/unauthorized"
    assert problem["code"] == "unauthorized"
    assert problem["instance"] == INBOUND
    return dict(problem["errors"][0])


async def test_a_signed_reply_is_taken_once_and_its_replay_is_refused(
    client: httpx.AsyncClient, unique: str
) -> None:
    """The same signed request twice: 200, then 401 `replayed`."""
    body = _reply(unique)
    headers = signed_headers(SECRET, body)
    first = await _post(client, body, headers)
    assert first.status_code == 200, first.text
    assert first.json() == {"outcome": "ignored", "keyword": None}
    assert _refusal(await _post(client, body, headers))["rule"] == "replayed"
    # The provider retrying the same message under a fresh signature changes nothing.
    again = await _post(client, body, signed_headers(SECRET, body))
    assert again.json() == {"outcome": "ignored", "duplicate": True}


async def test_bad_signatures_stale_timestamps_and_missing_headers_are_refused(
    client: httpx.AsyncClient, unique: str
) -> None:
    """Each refusal is a 401 problem naming its rule; none of them is recorded as seen."""
    body = _reply(unique, "STOP")
    forged = signed_headers(b"someone-else", body)
    assert _refusal(await _post(client, body, forged))["rule"] == "bad_signature"
    tampered = signed_headers(SECRET, _reply(unique, "START"))
    assert _refusal(await _post(client, body, tampered))["rule"] == "bad_signature"
    stale = signed_headers(SECRET, body, timestamp=int(time.time()) - 600)
    error = _refusal(await _post(client, body, stale))
    assert error["rule"] == "stale_timestamp"
    assert "300s" in error["message"]
    assert _refusal(await _post(client, body, {}))["rule"] == "missing_header"
    # The nonce of a refused request was not used up: signed properly, it is taken.
    fresh = signed_headers(SECRET, body, message_id=forged["webhook-id"])
    assert (await _post(client, body, fresh)).status_code == 200


async def test_a_signed_body_that_breaks_the_contract_is_a_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    """Signed, but no sender: 422 `invalid_request` naming `from`; not JSON: 400."""
    body = json.dumps({"message_id": "m-1", "body": "STOP"}).encode()
    response = await _post(client, body, signed_headers(SECRET, body))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"
    assert [e["path"] for e in response.json()["errors"]] == ["from"]
    response = await _post(client, b"{nope", signed_headers(SECRET, b"{nope"))
    assert (response.status_code, response.json()["code"]) == (400, "malformed")
