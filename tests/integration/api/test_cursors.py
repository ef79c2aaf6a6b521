"""Signed cursors against the real read API and PostgreSQL: every tampering is a 400, never a 500."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from consumers.api import cursor
from tests.integration.api.conftest import ApiFactory
from tests.integration.api.test_campaigns import every_page
from tests.support.problems import assert_problem

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
SECRET = "integration-test cursor secret, 32+ chars"
SIGNER = cursor.Cursors(SECRET.encode())  # what the app under test signs with
CAMPAIGN_FILTERS = {"municipality": None, "org_id": None, "status": None}


@pytest.fixture
async def api(make_api: ApiFactory) -> AsyncIterator[httpx.AsyncClient]:
    """The read API with a configured cursor secret (the test can sign what it likes)."""
    async with make_api(cursor_secret=SecretStr(SECRET)) as client:
        yield client


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def signed(body: bytes) -> str:
    """A cursor with a valid MAC over any body: as if the secret had leaked."""
    return f"{b64(body)}.{b64(SIGNER._mac(body))}"


def campaign_body(sort: str, key: Any, row_id: Any = "cmp-1", **changes: Any) -> bytes:
    fields = {"v": 2, "s": sort, "f": cursor.fingerprint(sort, CAMPAIGN_FILTERS), "k": key,
              "i": row_id, **changes}  # fmt: skip
    return orjson.dumps(fields)


async def first_cursor(api: httpx.AsyncClient, **params: Any) -> str:
    page = (await api.get("/v1/campaigns", params={"limit": 2, **params})).json()
    assert page["next_cursor"], "the world has more than two campaigns"
    return page["next_cursor"]


async def refused(api: httpx.AsyncClient, token: str, path: str = "/v1/campaigns",
                  **params: Any) -> str:  # fmt: skip
    """Assert a 400 bad-cursor problem and return its detail."""
    response = await api.get(path, params={**params, "cursor": token})
    return assert_problem(response, 400, "bad_cursor")["detail"]


@pytest.mark.parametrize("sort", ["starts_on", "-starts_on", "fill_rate", "-fill_rate"])
async def test_genuine_cursors_page_through_everything_in_order(api, sort: str) -> None:
    """Small signed pages, followed to the end, equal the whole listing in the same order."""
    whole = await every_page(api, "/v1/campaigns", sort=sort, limit=200)
    paged = await every_page(api, "/v1/campaigns", sort=sort, limit=7)
    assert [c["campaign_id"] for c in paged] == [c["campaign_id"] for c in whole]
    assert len(whole) > 7
    orgs = await every_page(api, "/v1/organizations", limit=200)
    assert await every_page(api, "/v1/organizations", limit=3) == orgs


async def test_garbage_that_is_not_base64_is_a_400(api) -> None:
    """No dot, characters outside base64url, padding, an empty part: a clear 400."""
    for token in (
        "not-a-cursor!",
        "abc",
        "ab$c.def",
        "YWJj.",
        ".YWJj",
        "YWJj==.YWJj",
        "YW Jj.YWJj",
    ):
        assert "not one this API issued" in await refused(api, token)


async def test_a_flipped_bit_in_the_body_or_the_mac_is_a_400(api) -> None:
    """Any bit of a genuine cursor changed, with the MAC left as it was, is detected."""
    token = await first_cursor(api, sort="starts_on")
    body, mac = (unb64(part) for part in token.split("."))
    for at in (0, len(body) // 2, len(body) - 1):
        flipped = bytearray(body)
        flipped[at] ^= 0x01
        assert "signature does not match" in await refused(
            api, f"{b64(bytes(flipped))}.{b64(mac)}", sort="starts_on"
        )
    bad_mac = bytes([mac[0] ^ 0x80]) + mac[1:]
    assert "signature" in await refused(api, f"{b64(body)}.{b64(bad_mac)}", sort="starts_on")


async def test_a_modified_key_with_the_stale_mac_is_a_400(api) -> None:
    """Moving the position (another date, another id, a key SQL cannot take) needs the secret."""
    token = await first_cursor(api, sort="starts_on")
    body_part, mac_part = token.split(".")
    fields = orjson.loads(unb64(body_part))
    for change in ({"k": "1999-01-01"}, {"i": "cmp-0"}, {"k": 5}, {"k": "x'; select 1; --"}):
        forged = b64(orjson.dumps({**fields, **change}))
        assert "signature does not match" in await refused(
            api, f"{forged}.{mac_part}", sort="starts_on"
        )


async def test_a_cursor_from_another_secret_or_a_restart_is_a_400(make_api: ApiFactory) -> None:
    """Without a configured secret each process signs with its own key: a clear refusal."""
    async with make_api(cursor_secret=SecretStr("another secret of another server")) as other:
        token = await first_cursor(other)
    async with make_api(cursor_secret=SecretStr(SECRET)) as api:
        assert "restart or by another server" in await refused(api, token)


@pytest.mark.parametrize(
    ("sort", "key"),
    [
        ("starts_on", 5), ("starts_on", None), ("starts_on", {"y": 2026}), ("starts_on", [1]),
        ("starts_on", "not-a-date"), ("-starts_on", "2026-13-01"), ("starts_on", True),
        ("fill_rate", "abc"), ("-fill_rate", "NaN"), ("fill_rate", "1e999999"),
        ("fill_rate", 0.5), ("fill_rate", "0.5; drop table campaigns"),
    ],
)  # fmt: skip
async def test_a_signed_key_of_the_wrong_type_is_a_400_not_a_500(api, sort: str, key: Any) -> None:
    """Before signing, such a key reached the SQL cast and answered 500; now it is refused."""
    detail = await refused(api, signed(campaign_body(sort, key)), sort=sort)
    kind = "date" if sort.endswith("starts_on") else "numeric"
    assert detail == f"the cursor's position is not a valid {kind} key for sort {sort!r}"


async def test_a_signed_id_of_the_wrong_type_or_shape_is_a_400(api) -> None:
    """The row id is text without NUL, of bounded length; anything else is refused."""
    for row_id in (7, None, ["cmp-1"], "cmp\x00-1", "c" * 300):
        body = campaign_body("starts_on", "2026-01-01", row_id)
        assert "not a valid" in await refused(api, signed(body), sort="starts_on")
    org_body = orjson.dumps({"v": 2, "s": "org_id", "k": "o", "i": {"$gt": ""},
                             "f": cursor.fingerprint("org_id", {"sector": None, "status": None})})  # fmt: skip
    assert "not a valid" in await refused(api, signed(org_body), "/v1/organizations")


async def test_a_signed_body_that_is_not_our_json_is_a_400(api) -> None:
    """Bad JSON, JSON of another shape, another version: refused even with a valid MAC."""
    bodies = [b"{not json", b"\xff\xfe", b"[1, 2]", b'"cursor"', b"{}",
              campaign_body("starts_on", "2026-01-01", v=1)]  # fmt: skip
    for body in bodies:
        assert "not one this API issued" in await refused(api, signed(body), sort="starts_on")


async def test_a_huge_cursor_is_a_400_before_any_decoding(api) -> None:
    """60,000 characters of base64 (about what an HTTP client sends) are refused by length."""
    detail = await refused(api, "A" * 60_000)
    assert "longer than any this API issues" in detail
    token = await first_cursor(api)
    assert "longer" in await refused(api, token + "A" * 2000)


async def test_a_genuine_cursor_with_another_sort_or_filters_is_a_400(api) -> None:
    """A cursor continues only its own query: sort and every filter are bound to it."""
    token = await first_cursor(api, sort="starts_on")
    assert "another sort or other filters" in await refused(api, token, sort="-starts_on")
    assert "another sort" in await refused(api, token, sort="starts_on", municipality="doha")
    assert "another sort" in await refused(api, token, "/v1/organizations")
