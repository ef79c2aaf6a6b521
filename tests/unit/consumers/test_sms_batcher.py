"""SMS batching (pure logic, the provider faked with httpx.MockTransport): requests of up
to `size`, each caller gets its own message's result, a message whose hook refuses is
left out of the request."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from consumers.notifications.providers import DeliveryError, Providers, Sms
from consumers.notifications.sms_batcher import SmsBatcher
from infra.settings import Settings


class Refused(Exception):
    pass


async def test_each_caller_gets_its_own_result_from_batched_requests() -> None:
    seen: list[list[str]] = []

    def provider(request: httpx.Request) -> httpx.Response:
        keys = [m["idempotency_key"] for m in json.loads(request.content)["messages"]]
        seen.append(keys)
        results = [{"index": n, "id": f"id-{k}", "code": 503 if k == "k-7" else 202}
                   for n, k in enumerate(keys)]  # fmt: skip
        return httpx.Response(200, json={"results": results})

    settings = Settings(sms_url="http://sms.test/v1/messages")
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as http:
        batcher = SmsBatcher(Providers(settings, http), 100)

        async def ready() -> None:
            return None

        async def refuse() -> None:
            raise Refused

        sends = [batcher.send(Sms(f"k-{n}", "+97455501234", "hi"), refuse if n == 3 else ready)
                 for n in range(250)]  # fmt: skip
        results = await asyncio.gather(*sends, return_exceptions=True)

    assert all(len(keys) <= 100 for keys in seen)
    assert sorted(k for keys in seen for k in keys) == sorted(
        f"k-{n}" for n in range(250) if n != 3
    )
    assert len(seen) == batcher.requests < 250
    assert isinstance(results[3], Refused)  # not sent at all
    assert isinstance(results[7], DeliveryError)
    assert not results[7].permanent
    assert results[8] == "id-k-8"


async def test_a_request_failing_whole_fails_each_of_its_messages_alike() -> None:
    def provider(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"title": "bad key"})

    settings = Settings(sms_url="http://sms.test/v1/messages")
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as http:
        batcher = SmsBatcher(Providers(settings, http), 10)

        async def ready() -> None:
            return None

        results = await asyncio.gather(
            *(batcher.send(Sms(f"k-{n}", "+97455501234", "hi"), ready) for n in range(3)),
            return_exceptions=True,
        )
    assert all(isinstance(r, DeliveryError) and r.permanent for r in results)
    with pytest.raises(DeliveryError, match="HTTP 401"):
        raise results[0]  # type: ignore[misc]
