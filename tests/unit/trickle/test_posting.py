"""The trickle's gateway client: retries what the gateway cannot take now, counts refusals."""

from __future__ import annotations

import asyncio

import httpx
import orjson

from producers.trickle.run import TrickleStats, post_in_order


def events(*orgs: str) -> list[dict]:
    return [{"source": f"partner/{o}", "id": str(n), "type": "volunteer.checked_in"}
            for n, o in enumerate(orgs)]  # fmt: skip


def client(answers: list[httpx.Response], seen: list[httpx.Request]) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    return httpx.AsyncClient(base_url="http://gw", transport=httpx.MockTransport(handle))


async def test_a_busy_gateway_is_retried_and_each_org_posts_with_its_own_key() -> None:
    """503 then 202: the same batch is sent again, nothing is lost; org b's key for b."""
    seen: list[httpx.Request] = []
    answers = [httpx.Response(503, headers={"retry-after": "0"}), httpx.Response(202),
               httpx.Response(202)]  # fmt: skip
    stats = TrickleStats()
    async with client(answers, seen) as http:
        await post_in_order(http, {"a": "ka", "b": "kb"}, events("a", "a", "b"), stats,
                            asyncio.Event())  # fmt: skip
    assert [r.headers["authorization"] for r in seen] == ["Bearer ka", "Bearer ka", "Bearer kb"]
    assert [len(orjson.loads(r.content)) for r in seen] == [2, 2, 1]
    assert (stats.accepted_total, stats.retries, sum(stats.refused.values())) == (3, 1, 0)


async def test_a_refusal_is_counted_by_rule_and_the_trickle_goes_on() -> None:
    """403 with per-event rules: counted under each rule, the next batch still posted."""
    seen: list[httpx.Request] = []
    problem = {"code": "forbidden", "errors": [{"index": 0, "rule": "not_owner"}]}
    answers = [httpx.Response(403, json=problem), httpx.Response(202)]
    stats = TrickleStats()
    async with client(answers, seen) as http:
        await post_in_order(http, {"a": "ka", "b": "kb"}, events("a", "b"), stats,
                            asyncio.Event())  # fmt: skip
    assert stats.refused == {"not_owner": 1}
    assert stats.accepted_total == 1


async def test_when_stopping_what_the_gateway_did_not_take_is_unsent_not_refused() -> None:
    """A 503 while stopping is not retried for ever: counted as unsent."""
    seen: list[httpx.Request] = []
    stop = asyncio.Event()
    stop.set()
    stats = TrickleStats()
    async with client([httpx.Response(503)], seen) as http:
        await post_in_order(http, {"a": "ka"}, events("a"), stats, stop)
    assert (stats.unsent, sum(stats.refused.values()), stats.accepted_total) == (1, 0, 0)
