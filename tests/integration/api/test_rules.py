"""The pure rules behind the API: cursors and single-flight memoisation (suppression:
tests/unit/consumers/test_disclosure.py)."""

from __future__ import annotations

import asyncio

import pytest

from consumers.api import cursor
from consumers.api.memo import Memo


def test_a_cursor_round_trips_and_refuses_other_filters() -> None:
    """The position comes back intact; the same cursor with another filter is refused."""
    cursors = cursor.Cursors(b"a test secret of the read api")
    token = cursors.encode("-starts_on", {"municipality": "doha"}, "2026-03-01", "cmp-7")
    position = cursors.decode(token, "-starts_on", {"municipality": "doha"}, "date")
    assert (position.key, position.id) == ("2026-03-01", "cmp-7")
    with pytest.raises(cursor.BadCursor):
        cursors.decode(token, "-starts_on", {"municipality": "al_khor"}, "date")


async def test_concurrent_identical_requests_compute_once() -> None:
    """Fifty simultaneous asks for one key run the computation a single time."""
    calls = 0

    async def compute() -> int:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return 42

    memo = Memo(ttl_s=1.0)
    results = await asyncio.gather(*(memo.get("k", compute) for _ in range(50)))
    assert results == [42] * 50
    assert calls == 1


async def test_an_entry_lives_its_own_time() -> None:
    """A past day's answer kept longer (its own ttl) outlives today's, kept the memo's default."""
    calls = {"today": 0, "past": 0}

    def computing(key: str):  # type: ignore[no-untyped-def]
        async def compute() -> int:
            calls[key] += 1
            return calls[key]

        return compute

    memo = Memo(ttl_s=0.05)
    assert await memo.get("today", computing("today")) == 1
    assert await memo.get("past", computing("past"), ttl_s=60.0) == 1
    await asyncio.sleep(0.1)
    assert await memo.get("today", computing("today")) == 2  # expired: computed again
    assert await memo.get("past", computing("past"), ttl_s=60.0) == 1  # still kept
    assert await Memo(ttl_s=1.0).get("x", computing("today"), ttl_s=0) == 3  # 0: never kept


def slow_counter(delay_s: float):  # type: ignore[no-untyped-def]
    """A computation that takes `delay_s` and returns how many times it has run."""
    calls = {"n": 0}

    async def compute() -> int:
        calls["n"] += 1
        n = calls["n"]
        await asyncio.sleep(delay_s)
        return n

    return compute, calls


async def test_an_entry_near_its_end_is_served_while_it_refreshes() -> None:
    """Asked in its last quarter, an entry comes back at once (nobody waits for the slow
    computation) and one refresh replaces it; until that lands the old value is served."""
    compute, calls = slow_counter(0.2)
    memo = Memo(ttl_s=0.4)
    assert await memo.get("k", compute) == 1  # the first asker waits: nothing to serve
    await asyncio.sleep(0.32)  # in the last quarter of its 0.4 s
    began = asyncio.get_running_loop().time()
    served = await asyncio.gather(*(memo.get("k", compute) for _ in range(20)))
    assert asyncio.get_running_loop().time() - began < 0.1  # not the 0.2 s computation
    assert served == [1] * 20
    await asyncio.sleep(0.25)  # the refresh has landed
    assert await memo.get("k", compute) == 2
    assert calls["n"] == 2  # twenty asks, one refresh
    await memo.close()


async def test_nothing_older_than_its_life_is_served() -> None:
    """Past its life an entry is never served, even with a refresh possible: the asker
    waits for a fresh computation (a test or a client counting on `ttl` sees new data)."""
    compute, calls = slow_counter(0.05)
    memo = Memo(ttl_s=0.1)
    assert await memo.get("k", compute) == 1
    await asyncio.sleep(0.15)
    assert await memo.get("k", compute) == 2
    assert calls["n"] == 2


async def test_a_failed_refresh_leaves_the_entry_to_expire() -> None:
    """A refresh that fails is logged, the entry is served until its end, and the first ask
    after that computes in the open and sees the error."""
    state = {"fail": False}

    async def compute() -> str:
        if state["fail"]:
            raise RuntimeError("the database went away")
        return "ok"

    memo = Memo(ttl_s=0.2)
    assert await memo.get("k", compute) == "ok"
    state["fail"] = True
    await asyncio.sleep(0.16)
    assert await memo.get("k", compute) == "ok"  # served; the refresh fails behind it
    await asyncio.sleep(0.01)
    assert await memo.get("k", compute) == "ok"  # still within its life
    await asyncio.sleep(0.05)
    with pytest.raises(RuntimeError, match="went away"):
        await memo.get("k", compute)


async def test_close_cancels_the_refreshes_in_flight() -> None:
    """An app stopping cancels its background refreshes before its pool closes."""
    compute, calls = slow_counter(5.0)
    memo = Memo(ttl_s=0.2)
    memo._done["k"] = (0.0, asyncio.get_running_loop().time() + 100, "old")  # due a refresh
    assert await memo.get("k", compute) == "old"
    await asyncio.sleep(0.01)
    assert calls["n"] == 1
    assert memo._refreshes
    await asyncio.wait_for(memo.close(), 1.0)
    assert not memo._refreshes
