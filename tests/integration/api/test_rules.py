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
