"""Provider rate limits: one token bucket per channel (`TATAWWU_NOTIFY_SMS_PER_S`, ...).

A provider that allows N requests a second answers 429 beyond it; waiting here instead
keeps the sender's retries and backoff for real failures. The bucket holds at most one
second's worth of tokens, so a burst after an idle spell stays within the provider's
per-second window. The clock and the sleep are parameters, so tests run on a fake clock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


class TokenBucket:
    """`rate` requests a second on average, bursts of at most `burst` (default: `rate`)."""

    def __init__(
        self,
        rate: float,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if rate <= 0:
            msg = f"a rate limit must be positive, got {rate}"
            raise ValueError(msg)
        self.rate = rate
        self.burst = max(1.0, burst if burst is not None else rate)
        self.clock, self.sleep = clock, sleep
        self.tokens = self.burst
        self.updated = clock()
        self._lock = asyncio.Lock()  # waiters are served in arrival order

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def acquire(self) -> float:
        """Take one token, waiting for it when the bucket is empty; returns the seconds waited."""
        waited = 0.0
        async with self._lock:
            self._refill()
            if self.tokens < 1:
                waited = (1 - self.tokens) / self.rate
                await self.sleep(waited)
                self._refill()
                # The wait earned the token; a rounding error must not ask for another.
                self.tokens = max(self.tokens, 1.0)
            self.tokens -= 1
        return waited
