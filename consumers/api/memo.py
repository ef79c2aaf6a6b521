"""Single-flight, short-lived answers: N clients asking the same URL within a second cost one query.

The KPI takes a few hundred milliseconds of PostgreSQL work and every dashboard asks
for it every few seconds, so without this the database does the same work once per
viewer. Entries live `ttl` seconds (default 1 s, well under the max-age the responses
advertise), keyed by path and query; concurrent misses wait for the one computation.
Personal data (`/v1/volunteers/...`) never goes through here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

MAX_ENTRIES = 512


class Memo:
    """Recent answers by key, with one computation in flight per key."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._done: dict[str, tuple[float, Any]] = {}
        self._flying: dict[str, asyncio.Future[Any]] = {}

    async def get(self, key: str, compute: Callable[[], Awaitable[Any]]) -> Any:
        """The fresh answer for key, computing it at most once at a time."""
        if self.ttl_s <= 0:
            return await compute()
        now = time.monotonic()
        hit = self._done.get(key)
        if hit is not None and now - hit[0] < self.ttl_s:
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
        if len(self._done) >= MAX_ENTRIES:
            self._done = {k: v for k, v in self._done.items() if now - v[0] < self.ttl_s}
            if len(self._done) >= MAX_ENTRIES:  # many distinct URLs: start over
                self._done.clear()
        self._done[key] = (time.monotonic(), value)
        return value


async def shared(request: Request, compute: Callable[[], Awaitable[Any]]) -> Any:
    """The app's memoised answer for this request's path and query."""
    memo: Memo = request.app.state.memo
    return await memo.get(f"{request.url.path}?{request.url.query}", compute)
