"""Every refusal the gateway documents, each provoked by the matching bad request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from gateway_helpers import Partner, new_partner

from producers.gateway.partners import revoke_partner_key
from tests.support.problems import assert_problem

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def post(
    client: httpx.AsyncClient, partner: Partner, body: Any, **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post("/v1/events", content=content, headers={**partner.headers, **headers})


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'[{"id": 1', "JSON"),
        (b'"just a string"', "object"),
        (b"[]", "empty"),
        (b"", "empty"),
    ],
)
async def test_malformed_bodies_are_400(
    client: httpx.AsyncClient, partner: Partner, body: bytes, fragment: str
) -> None:
    """Broken JSON, a JSON scalar, an empty batch and an empty body are 400 problems."""
    problem = assert_problem(await post(client, partner, body), 400)
    assert fragment.lower() in problem["detail"].lower()


async def test_a_missing_or_unknown_key_is_401(client: httpx.AsyncClient, partner: Partner) -> None:
    """No Authorization header, another scheme, or a key that does not exist: 401."""
    body = orjson.dumps(partner.event("volunteer.registered"))
    plain = {"Content-Type": "application/json"}
    forged = "tw_000000000000_" + "A" * 43
    for headers in (
        {},
        {"Authorization": f"Basic {partner.key}"},
        {"Authorization": f"Bearer {forged}"},
    ):
        response = await client.post("/v1/events", content=body, headers={**plain, **headers})
        assert_problem(response, 401)


async def test_a_revoked_key_is_refused(
    client: httpx.AsyncClient, gateway: FastAPI, partner: Partner
) -> None:
    """The same key works, is revoked, then gets 401."""
    body = partner.event("volunteer.registered")
    assert (await post(client, partner, body)).status_code == 202
    await revoke_partner_key(gateway.state.pool, partner.key_id)
    problem = assert_problem(await post(client, partner, body), 401)
    assert "revoked" in problem["detail"]


async def test_a_partner_cannot_use_another_organisations_source(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """source must be partner/<own org>: another org's source is 403 at that index."""
    event = partner.event("volunteer.registered")
    event["source"] = "partner/org-someone-else"
    problem = assert_problem(
        await post(client, partner, [partner.event("volunteer.registered", 1), event]), 403
    )
    assert [(e["index"], e["rule"]) for e in problem["errors"]] == [(1, "source")]


async def test_a_partner_cannot_emit_for_another_organisation(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """organization.* events about another org, or a launch naming another org: 403."""
    suspended = partner.event("organization.suspended", org_id="org-victim")
    launch = partner.event("campaign.launched", org_id="org-victim")
    problem = assert_problem(await post(client, partner, [suspended, launch]), 403)
    assert [e["rule"] for e in problem["errors"]] == ["organization", "organization"]


async def test_a_partner_cannot_emit_for_another_orgs_campaign(
    client: httpx.AsyncClient, gateway: FastAPI, partner: Partner, unique: str
) -> None:
    """Org B's sign-ups and launches for org A's campaign are 403; A's own are fine."""
    owner = partner
    assert (await post(client, owner, owner.event("campaign.launched"))).status_code == 202
    intruder = await new_partner(gateway, f"b-{unique}")
    signup = intruder.event("volunteer.signed_up", campaign_id=owner.campaign)
    relaunch = intruder.event("campaign.launched", campaign_id=owner.campaign)
    problem = assert_problem(await post(client, intruder, [signup, relaunch]), 403)
    assert {e["rule"] for e in problem["errors"]} == {"campaign_owner"}
    assert [e["message"] for e in problem["errors"]] == [
        "the campaign belongs to another organisation",
        "the campaign was first launched by another organisation",
    ]


async def test_an_unknown_campaign_is_403_with_a_clear_detail(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """A check-in for a campaign nobody launched names the campaign in the error."""
    problem = assert_problem(
        await post(client, partner, partner.event("volunteer.checked_in")), 403
    )
    assert problem["errors"] == [{
        "index": 0, "path": "data.campaign_id", "rule": "campaign_owner",
        "message": "the campaign is not registered to your organisation (launch it first)",
    }]  # fmt: skip


async def test_a_refused_batch_leaves_no_campaign_claim_behind(
    client: httpx.AsyncClient, gateway: FastAPI, partner: Partner, unique: str
) -> None:
    """A launch inside a 403 batch does not claim the campaign: another org can still launch it."""
    bad = partner.event("organization.suspended", org_id="org-victim")
    assert_problem(await post(client, partner, [partner.event("campaign.launched"), bad]), 403)
    other = await new_partner(gateway, f"c-{unique}")
    launch = other.event("campaign.launched", campaign_id=partner.campaign)
    assert (await post(client, other, launch)).status_code == 202


async def test_a_declared_body_over_the_limit_is_413_before_reading(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """A Content-Length over the limit is refused without parsing."""
    response = await post(client, partner, b"[" + b" " * 70_000 + b"]")
    assert "70002 bytes" in assert_problem(response, 413)["detail"]


async def test_a_streamed_body_over_the_limit_is_413(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """Without Content-Length (chunked), the limit is enforced while reading the stream."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b"["
        for _ in range(100):
            yield b" " * 1024

    response = await client.post("/v1/events", content=chunks(), headers=partner.headers)
    assert "exceeds the limit" in assert_problem(response, 413)["detail"]


async def test_a_batch_over_the_event_limit_is_413(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """51 events against a limit of 50 is 413 naming both numbers."""
    batch = [partner.event("volunteer.consent_changed", n) for n in range(51)]
    assert (
        "51 events; the limit is 50"
        in assert_problem(await post(client, partner, batch), 413)["detail"]
    )


async def test_a_non_json_media_type_is_415(client: httpx.AsyncClient, partner: Partner) -> None:
    """text/plain is refused with 415 even when the body is a valid event."""
    response = await post(
        client, partner, partner.event("volunteer.registered"), **{"Content-Type": "text/plain"}
    )
    assert_problem(response, 415)


async def test_an_invalid_item_rejects_the_whole_batch_with_per_item_errors(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """One bad phone in a batch of three: 422, its index and path named, nothing accepted."""
    batch = [partner.event("volunteer.registered", n) for n in range(3)]
    batch[2]["data"]["phone"] = "not-a-phone"
    problem = assert_problem(await post(client, partner, batch), 422)
    assert [(e["index"], e["path"], e["rule"]) for e in problem["errors"]] == [
        (2, "data.phone", "pattern")
    ]
    assert "not-a-phone" not in problem["errors"][0]["message"]  # personal data is never echoed


async def test_a_partner_over_its_rate_gets_429_with_retry_after(
    client: httpx.AsyncClient, gateway: FastAPI, partner: Partner
) -> None:
    """Once the partner's bucket is empty the next request is 429 with Retry-After."""
    limiter = gateway.state.limiter
    while limiter.take(partner.key_id) == 0.0:
        pass
    response = await post(client, partner, partner.event("volunteer.registered"))
    assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1


async def test_a_body_that_does_not_arrive_in_time_is_408(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """A client trickling its body for longer than the request timeout is cut off."""

    async def slow() -> AsyncIterator[bytes]:
        yield b"["
        await asyncio.sleep(1.5)
        yield b"]"

    assert_problem(await client.post("/v1/events", content=slow(), headers=partner.headers), 408)


async def test_unknown_paths_and_methods_are_problems(client: httpx.AsyncClient) -> None:
    """Framework errors (404, 405) use the same problem+json shape."""
    assert_problem(await client.get("/v2/nothing"), 404)
    assert_problem(await client.get("/v1/events"), 405)


async def test_an_unexpected_failure_is_a_bare_500(
    client: httpx.AsyncClient, gateway: FastAPI, partner: Partner, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash inside the handler answers a 500 problem that leaks nothing of the error."""

    class Exploding:
        async def send(self, *args: object, **kwargs: object) -> None:
            msg = "secret internal detail +97455501234"
            raise RuntimeError(msg)

    monkeypatch.setattr(gateway.state, "producer", Exploding())
    response = await post(client, partner, partner.event("volunteer.registered"))
    problem = assert_problem(response, 500)
    assert "secret" not in response.text
    assert "RuntimeError" not in response.text
    assert problem["type"] == "https://tatawwu.example/problems/internal"
    assert response.headers["x-correlation-id"]
