"""Provider rate limits: a token bucket per channel, on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from consumers.notifications.limits import TokenBucket


class FakeClock:
    """Time that moves only when the bucket sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def bucket(rate: float, clock: FakeClock, burst: float | None = None) -> TokenBucket:
    return TokenBucket(rate, burst, clock=clock, sleep=clock.sleep)


async def test_a_second_worth_goes_at_once_then_one_every_interval() -> None:
    """A full bucket lets `rate` requests through, then spaces the rest 1/rate apart."""
    clock = FakeClock()
    limit = bucket(5, clock)
    for _ in range(5):
        assert await limit.acquire() == 0
    assert clock.now == 100.0
    for n in range(1, 11):
        await limit.acquire()
        assert clock.now == pytest.approx(100.0 + n * 0.2)


async def test_the_average_rate_holds_over_a_long_run() -> None:
    """1,000 requests at 50/s take (1,000 - burst) / 50 seconds, never less."""
    clock = FakeClock()
    limit = bucket(50, clock)
    for _ in range(1000):
        await limit.acquire()
    assert clock.now - 100.0 == pytest.approx((1000 - 50) / 50)


async def test_an_idle_spell_refills_at_most_one_burst() -> None:
    """After an hour idle, only `burst` requests go without waiting."""
    clock = FakeClock()
    limit = bucket(2, clock)
    await limit.acquire()
    await limit.acquire()
    clock.now += 3600
    assert [await limit.acquire() for _ in range(3)][:2] == [0, 0]
    assert clock.slept[-1] == pytest.approx(0.5)


async def test_concurrent_waiters_are_spaced_not_released_together() -> None:
    """Ten tasks waiting on an empty bucket at 10/s finish over a second, in order."""
    clock = FakeClock()
    limit = bucket(10, clock, burst=1)
    await limit.acquire()
    done: list[float] = []

    async def one() -> None:
        await limit.acquire()
        done.append(clock.now)

    await asyncio.gather(*(one() for _ in range(10)))
    assert done == pytest.approx([100.0 + 0.1 * n for n in range(1, 11)])


def test_a_rate_must_be_positive() -> None:
    """Zero would never send: refused when the sender is built, with the value named."""
    with pytest.raises(ValueError, match="positive, got 0"):
        TokenBucket(0)
