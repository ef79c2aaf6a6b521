"""Per-partner token buckets: a steady rate with a burst allowance, on an injectable clock.

Each partner key has two buckets: requests (one token per request, taken before the body
is read) and events (one token per event, taken once the batch is parsed). The request
bucket alone let a key send 100 requests/s of 1,000 events each; the event bucket bounds
what a key costs Kafka and the projectors, whatever its batch size.
"""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class TokenBucket:
    """`burst` tokens at most, refilled at `rate` per second; each request takes some."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            msg = f"a token bucket needs rate > 0 and burst >= 1 (got {rate}, {burst})"
            raise ValueError(msg)
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._updated = clock()

    def take(self, cost: float = 1.0) -> float:
        """Take `cost` tokens: 0.0 when allowed, else the seconds until they will be there.

        A cost above the burst could never be met; it passes on a full bucket and leaves it
        in debt, so the rate still holds on average and no batch size waits forever.
        """
        now = self._clock()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        needed = min(cost, self.burst)
        if self._tokens >= needed:
            self._tokens -= cost
            return 0.0
        return (needed - self._tokens) / self.rate


class RateLimiter:
    """Two buckets per partner key, created on first use (partners are few: no eviction)."""

    def __init__(self, rate: float, burst: float, clock: Clock = time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, TokenBucket] = {}
        self._event_buckets: dict[str, TokenBucket] = {}

    def take(self, key_id: str, cost: float = 1.0) -> float:
        """Like `TokenBucket.take`, on `key_id`'s request bucket."""
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = TokenBucket(self.rate, self.burst, self._clock)
        return bucket.take(cost)

    def take_events(self, key_id: str, count: int, rate: float, burst: float) -> float:
        """`count` tokens from `key_id`'s event bucket (`rate` events/s, `burst` events).

        The limits come with the call (the gateway passes its settings), so the limiter is
        built as before; a bucket keeps the limits it was created with.
        """
        bucket = self._event_buckets.get(key_id)
        if bucket is None:
            bucket = self._event_buckets[key_id] = TokenBucket(rate, burst, self._clock)
        return bucket.take(count)
