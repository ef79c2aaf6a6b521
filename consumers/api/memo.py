"""Single-flight, short-lived answers: N clients asking the same URL within a second cost one query.

The KPI takes a few hundred milliseconds of PostgreSQL work and every dashboard asks
for it every few seconds, so without this the database does the same work once per
viewer. Entries live `ttl` seconds (default 1 s, well under the max-age the responses
advertise), keyed by path and query; concurrent misses wait for the one computation.
A past day's documents change only with late facts, so a caller may keep them longer
(`api_past_memo_s`): a day picker over a year then costs one computation per day a minute,
not one per request.
Personal data (`/v1/volunteers/...`) never goes through here.

Refresh ahead: an entry asked for in the last quarter of its life (REFRESH_AHEAD) is
served as it is while one computation runs in the background and replaces it. Under
steady load nobody waits for a computation but the first asker of a key (or the first
after a quiet spell longer than the entry's life), and nothing older than `ttl` is ever
served. Waiting was the KPI's tail: every second, all the requests arriving during
today's recomputation queued behind it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from fastapi import Request

MAX_ENTRIES = 2048  # a year of days under a few filters
REFRESH_AHEAD = 0.25  # the share of an entry's life, at its end, when an ask refreshes it
log = structlog.get_logger()


class Memo:
    """Recent answers by key, with one computation in flight per key, refreshed ahead."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        # key -> (refresh from, expires at, value)
        self._done: dict[str, tuple[float, float, Any]] = {}
        self._flying: dict[str, asyncio.Future[Any]] = {}
        self._refreshes: set[asyncio.Task[None]] = set()

    async def get(
        self, key: str, compute: Callable[[], Awaitable[Any]], ttl_s: float | None = None
    ) -> Any:
        """The fresh answer for key (kept `ttl_s`, default the memo's), computed at most once
        at a time; asked near its end, refreshed in the background."""
        ttl_s = self.ttl_s if ttl_s is None else ttl_s
        if ttl_s <= 0:
            return await compute()
        now = time.monotonic()
        hit = self._done.get(key)
        if hit is not None and now < hit[1]:
            if now >= hit[0] and key not in self._flying:
                flight = self._take_off(key)  # now: the next asks must not refresh again
                task = asyncio.create_task(self._refresh(key, flight, compute, ttl_s))
                self._refreshes.add(task)
                task.add_done_callback(self._refreshes.discard)
            return hit[2]
        if key in self._flying:
            return await asyncio.shield(self._flying[key])
        return await self._compute(key, self._take_off(key), compute, ttl_s)

    def _take_off(self, key: str) -> asyncio.Future[Any]:
        """The flight of key's computation, which later asks wait for."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._flying[key] = future
        return future

    async def _compute(
        self, key: str, future: asyncio.Future[Any], compute: Callable[[], Awaitable[Any]],
        ttl_s: float,
    ) -> Any:  # fmt: skip
        """Compute key's answer as the flight others wait for, and keep it."""
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
            self._done = {k: v for k, v in self._done.items() if now < v[1]}
            if len(self._done) >= MAX_ENTRIES:  # many distinct URLs: start over
                self._done.clear()
        self._done[key] = (now + ttl_s * (1 - REFRESH_AHEAD), now + ttl_s, value)
        return value

    async def _refresh(
        self, key: str, future: asyncio.Future[Any], compute: Callable[[], Awaitable[Any]],
        ttl_s: float,
    ) -> None:  # fmt: skip
        """A background refresh: its failure leaves the entry to expire (the next ask after
        that computes in the open and gets the error)."""
        try:
            await self._compute(key, future, compute, ttl_s)
        except Exception as exc:  # logged; the entry expires as it would have
            log.warning("memo_refresh_failed", key=key.partition("?")[0], error=type(exc).__name__)

    async def close(self) -> None:
        """Cancel the refreshes in flight (the app is stopping: its pool closes next)."""
        for task in list(self._refreshes):
            task.cancel()
        for task in list(self._refreshes):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def shared(
    request: Request, compute: Callable[[], Awaitable[Any]], ttl_s: float | None = None
) -> Any:
    """The app's memoised answer for this request's path and query."""
    memo: Memo = request.app.state.memo
    return await memo.get(f"{request.url.path}?{request.url.query}", compute, ttl_s)
