"""Arbitrary bodies and headers: the gateway answers a 4xx problem (or 202), never 5xx or a hang."""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from gateway_helpers import Partner, new_partner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.examples import example
from schemas.registry import EVENT_TYPES
from tests.support.problems import assert_problem

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

MEDIA = st.sampled_from([
    "application/json", "application/cloudevents+json", "application/cloudevents-batch+json",
    "application/json; charset=utf-8", "text/plain", "", "application/x-www-form-urlencoded",
])  # fmt: skip
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)
# Values that once made the decoder raise (an instant out of range once in UTC) or that
# only a careful contract refuses (separators, bidi controls), beside arbitrary JSON.
EDGE_VALUES = st.sampled_from([
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59.999999Z",
    "2026-02-29T10:00:00Z", "title\u2028line", "a\u0085b", "\u202ereversed", 10**40, -0.0,
])  # fmt: skip
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | EDGE_VALUES
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def mutated_events(draw: st.DrawFn) -> dict[str, Any]:
    """A real example with one field replaced by arbitrary JSON, or removed."""
    document = example(draw(st.sampled_from(EVENT_TYPES)))
    target = document["data"] if draw(st.booleans()) else document
    field = draw(st.sampled_from(sorted(target)))
    if draw(st.booleans()):
        del target[field]
    else:
        target[field] = draw(JSON)
    return document


def dumps(value: Any) -> bytes:
    """Stdlib JSON: big integers and Infinity included (orjson refuses both)."""
    return json.dumps(value).encode()


BODIES = st.one_of(
    st.binary(max_size=300),
    JSON.map(dumps),
    mutated_events().map(dumps),
    st.lists(mutated_events(), min_size=1, max_size=5).map(dumps),
    st.text(max_size=200).map(str.encode),
)


@pytest.fixture(scope="module")
async def fuzz_partner(gateway: FastAPI) -> Partner:
    """One key for the whole property (the fuzz must not drain a per-test key's bucket)."""
    gateway.state.limiter.rate = gateway.state.limiter.burst = 10_000
    return await new_partner(gateway, "fuzz")


@settings(
    max_examples=100,
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    body=BODIES,
    media=MEDIA,
    auth=st.sampled_from(["valid", "valid", "valid", "none", "garbage"]),
    extra=st.dictionaries(
        st.sampled_from(["X-Correlation-ID", "Content-Encoding", "Accept", "X-Anything"]),
        HEADER_TEXT,
    ),
)
async def test_arbitrary_requests_never_get_a_server_error(
    client: httpx.AsyncClient,
    fuzz_partner: Partner,
    body: bytes,
    media: str,
    auth: str,
    extra: dict[str, str],
) -> None:
    """Whatever arrives, the answer is a problem+json 4xx (or 202 for a valid event) within 5 s."""
    headers = {**extra, "Content-Type": media}
    if auth == "valid":
        headers["Authorization"] = f"Bearer {fuzz_partner.key}"
    elif auth == "garbage":
        headers["Authorization"] = "Bearer " + body[:40].decode("ascii", "replace").replace(
            "\ufffd", "?"
        )
    response = await asyncio.wait_for(client.post("/v1/events", content=body, headers=headers), 5)
    assert response.status_code < 500, response.text
    if response.status_code != 202:
        assert 400 <= response.status_code < 500
        assert_problem(response, response.status_code)  # the shared shape, whatever was sent
