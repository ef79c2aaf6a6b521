"""Token buckets on a fake clock: burst, steady rate, Retry-After, per-key isolation."""

from __future__ import annotations

import pytest

from producers.gateway.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_full_bucket_allows_exactly_its_burst() -> None:
    """A fresh bucket lets `burst` requests through at once, then refuses the next."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take() > 0


def test_a_refusal_says_how_long_to_wait() -> None:
    """An empty bucket at 2 tokens/s answers 0.5 s until the next token."""
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=1, clock=clock)
    bucket.take()
    assert bucket.take() == pytest.approx(0.5)
    clock.now += 0.5
    assert bucket.take() == 0.0


def test_tokens_refill_at_the_rate_but_never_beyond_the_burst() -> None:
    """After a long idle period only `burst` requests pass, not rate x idle time."""
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    clock.now += 3600
    allowed = sum(bucket.take() == 0.0 for _ in range(20))
    assert allowed == 5


def test_steady_traffic_at_the_rate_is_never_refused() -> None:
    """Requests spaced exactly 1/rate apart all pass, even with a burst of 1."""
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=1, clock=clock)
    for _ in range(100):
        assert bucket.take() == 0.0
        clock.now += 0.25


def test_each_partner_key_has_its_own_bucket() -> None:
    """One partner exhausting its bucket does not slow another down."""
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=2, clock=clock)
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == 0.0
    assert limiter.take("a") > 0
    assert limiter.take("b") == 0.0


def test_nonsense_limits_are_refused() -> None:
    """A zero rate would never refill: it is refused at construction."""
    with pytest.raises(ValueError, match="rate > 0"):
        TokenBucket(rate=0, burst=1)
