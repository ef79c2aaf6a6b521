"""Single-flight, short-lived answers: N clients asking the same URL within a second cost one query.

The KPI takes a few hundred milliseconds of PostgreSQL work and every dashboard asks
for it every few seconds, so without this the database does the same work once per
viewer. Entries live `ttl` seconds (default 1 s, well under the max-age the responses
advertise), keyed by path and query; concurrent misses wait for the one computation.
A past day's documents change only with late facts, so a caller may keep them longer
(`api_past_memo_s`): a day picker over a year then costs one computation per day a minute,
not one per request.
Personal data (`/v1/volunteers/...`) never goes through here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

MAX_ENTRIES = 2048  # a year of days under a few filters


class Memo:
    """Recent answers by key, with one computation in flight per key."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._done: dict[str, tuple[float, Any]] = {}  # key -> (expires at, value)
        self._flying: dict[str, asyncio.Future[Any]] = {}

    async def get(
        self, key: str, compute: Callable[[], Awaitable[Any]], ttl_s: float | None = None
    ) -> Any:
        """The fresh answer for key (kept `ttl_s`, default the memo's), computed at most once
        at a time."""
        ttl_s = self.ttl_s if ttl_s is None else ttl_s
        if ttl_s <= 0:
            return await compute()
        now = time.monotonic()
        hit = self._done.get(key)
        if hit is not None and now < hit[0]:
            return hit[1]
        if key in self._flying:
            return await asyncio.shield(self._flying[key])
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._flying[key] = future
        try:
            value = await compute()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        finally:
            self._flying.pop(key, None)
        future.set_result(value)
        now = time.monotonic()
        if len(self._done) >= MAX_ENTRIES:
            self._done = {k: v for k, v in self._done.items() if now < v[0]}
            if len(self._done) >= MAX_ENTRIES:  # many distinct URLs: start over
                self._done.clear()
        self._done[key] = (now + ttl_s, value)
        return value


async def shared(
    request: Request, compute: Callable[[], Awaitable[Any]], ttl_s: float | None = None
) -> Any:
    """The app's memoised answer for this request's path and query."""
    memo: Memo = request.app.state.memo
    return await memo.get(f"{request.url.path}?{request.url.query}", compute, ttl_s)
