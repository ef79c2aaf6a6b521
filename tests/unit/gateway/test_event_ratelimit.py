"""The per-key event bucket on a fake clock: events count, not only requests."""

from __future__ import annotations

import pytest

from infra.settings import Settings
from producers.gateway.ratelimit import RateLimiter, TokenBucket


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_big_batches_empty_the_event_bucket_while_requests_remain() -> None:
    """Four batches of 50 against a burst of 200 events: the fifth waits, requests do not."""
    clock = FakeClock()
    limiter = RateLimiter(rate=100, burst=200, clock=clock)
    assert [limiter.take_events("a", 50, 100, 200) for _ in range(4)] == [0.0] * 4
    assert limiter.take_events("a", 50, 100, 200) == pytest.approx(0.5)  # 50 events at 100/s
    assert limiter.take("a") == 0.0  # the request bucket is untouched
    clock.now += 0.5
    assert limiter.take_events("a", 50, 100, 200) == 0.0


def test_each_partner_key_has_its_own_event_bucket() -> None:
    """One partner sending big batches does not slow another down."""
    clock = FakeClock()
    limiter = RateLimiter(rate=100, burst=200, clock=clock)
    while limiter.take_events("big", 50, 100, 200) == 0.0:
        pass
    assert limiter.take_events("small", 1, 100, 200) == 0.0
    assert limiter.take_events("small", 50, 100, 200) == 0.0


def test_a_refused_batch_takes_no_tokens() -> None:
    """A 429 costs nothing: after the wait it names, the same batch passes."""
    clock = FakeClock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    limiter.take_events("a", 10, 10, 10)
    wait = limiter.take_events("a", 10, 10, 10)
    assert wait == pytest.approx(1.0)
    assert limiter.take_events("a", 10, 10, 10) == pytest.approx(1.0)
    clock.now += wait
    assert limiter.take_events("a", 10, 10, 10) == 0.0


def test_a_batch_above_the_burst_passes_on_a_full_bucket_and_leaves_debt() -> None:
    """Otherwise it could never pass; the debt keeps the average at the rate."""
    clock = FakeClock()
    bucket = TokenBucket(rate=100, burst=200, clock=clock)
    assert bucket.take(500) == 0.0
    assert bucket.take(1) == pytest.approx(3.01)  # 300 events of debt, then 1 more
    clock.now += 3.02  # float sums: a hair past the wait
    assert bucket.take(1) == 0.0


def test_the_defaults_let_the_gateway_benchmark_through() -> None:
    """Batches of 500 at 48,000 events/s (96 requests/s) from one key for a minute: no 429."""
    settings = Settings()
    rate, burst = settings.gateway_events_per_s, settings.gateway_events_burst
    clock = FakeClock()
    limiter = RateLimiter(settings.gateway_rate_per_s, settings.gateway_rate_burst, clock)
    for _ in range(96 * 60):
        assert limiter.take("bench") == 0.0
        assert limiter.take_events("bench", 500, rate, burst) == 0.0
        clock.now += 1 / 96


def test_the_defaults_bound_what_the_request_limit_alone_allowed() -> None:
    """100 requests/s of 1,000 events for 10 s: about burst + 10 x rate events pass, not 1M."""
    settings = Settings()
    rate, burst = settings.gateway_events_per_s, settings.gateway_events_burst
    clock = FakeClock()
    limiter = RateLimiter(settings.gateway_rate_per_s, settings.gateway_rate_burst, clock)
    accepted = 0
    for _ in range(100 * 10):
        if limiter.take("flood") == 0.0 and limiter.take_events("flood", 1000, rate, burst) == 0:
            accepted += 1000
        clock.now += 0.01
    assert accepted == pytest.approx(burst + 10 * rate, abs=1000)
    assert accepted < 100 * 10 * 1000
