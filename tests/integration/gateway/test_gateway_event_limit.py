"""Per-key event limits against the real gateway app, Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
from fastapi import FastAPI
from gateway_helpers import Partner, new_partner

from infra.settings import Settings
from producers.gateway import create_app

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
BATCH = 50


@pytest.fixture
async def client(stack: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A gateway with the default request limit (100/s, burst 200) and 10 events/s, burst 200."""
    settings = stack.model_copy(update={
        "gateway_max_batch_events": BATCH, "gateway_key_cache_s": 0.0,
        "gateway_events_per_s": 10.0, "gateway_events_burst": 200,
    })  # fmt: skip
    assert (settings.gateway_rate_per_s, settings.gateway_rate_burst) == (100.0, 200)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield app, http


async def post(http: httpx.AsyncClient, partner: Partner, first: int, count: int) -> httpx.Response:
    batch = [partner.event("volunteer.registered", n) for n in range(first, first + count)]
    return await http.post("/v1/events", content=orjson.dumps(batch), headers=partner.headers)


async def test_big_batches_under_the_request_limit_are_throttled_by_events(
    client: tuple[FastAPI, httpx.AsyncClient], unique: str
) -> None:
    """Five requests are far below 200, but 250 events are over 200: 429 naming events/s.

    Another partner sending small batches at the same time is not slowed down.
    """
    app, http = client
    big, small = await new_partner(app, f"{unique}b"), await new_partner(app, f"{unique}s")
    statuses = [(await post(http, big, n * BATCH, BATCH)).status_code for n in range(4)]
    assert statuses == [202] * 4
    throttled = await post(http, big, 4 * BATCH, BATCH)
    assert throttled.status_code == 429
    assert throttled.headers["content-type"] == "application/problem+json"
    assert 1 <= int(throttled.headers["retry-after"]) <= 5  # 50 events at 10/s
    problem = throttled.json()
    assert problem["type"] == "https://tatawwu.example/problems/rate_limited"
    assert problem["code"] == "rate_limited"
    assert problem["instance"] == "/v1/events"
    assert problem["detail"] == (
        "more than 10 events/s for this key; send fewer or smaller batches"
    )
    for n in range(5):
        assert (await post(http, small, n, 1)).status_code == 202
    assert (await post(http, big, 4 * BATCH, BATCH)).status_code == 429  # its own bucket
    assert app.state.limiter.take(big.key_id) == 0.0  # its request bucket was never the limit
