"""Prometheus metrics of the notifier: what an operator paged at 3 a.m. asks first.

Are messages going out, on which channel, and how fast (`messages_total`,
`send_seconds`, `send_retries_total`)? Is the ledger falling behind
(`backlog_messages`, `oldest_due_age_seconds`, refreshed by `watch_ledger`)? Is the
sender still looping (`sender_loop_timestamp_seconds`, also what `/ready` reads)?
The enqueueing half shows in the projector metrics (`projector="notifications"`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import asyncpg
import structlog
from prometheus_client import Counter, Gauge, Histogram

from consumers.notifications.rules import EMAIL, SMS

log = structlog.get_logger(__name__)
LEDGER_EVERY_S = 10.0  # one indexed count over the waiting rows this often

MESSAGES = Counter(
    "tatawwu_notifier_messages_total",
    "Messages finished, by channel and outcome (sent, failed, suppressed)",
    ["channel", "outcome"],
)
RETRIES = Counter(
    "tatawwu_notifier_send_retries_total",
    "Sends that failed and were scheduled again, by channel",
    ["channel"],
)
FENCED = Counter(
    "tatawwu_notifier_fenced_total",
    "Results discarded because the row's lease was lost (expired, or claimed again by "
    "another sender), by channel and stage (before_send: not sent; record: not recorded)",
    ["channel", "stage"],
)
SEND_SECONDS = Histogram(
    "tatawwu_notifier_send_seconds",
    "Seconds to hand one message to its provider (SMTP or the SMS API), failures included",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BACKLOG = Gauge(
    "tatawwu_notifier_backlog_messages",
    "Ledger rows waiting to be sent (pending or sending, quiet-hours holds included)",
    ["channel"],
)
OLDEST_DUE = Gauge(
    "tatawwu_notifier_oldest_due_age_seconds",
    "How long the oldest message due now has been waiting past its time (0: none)",
    ["channel"],
)
SENDER_LOOP = Gauge(
    "tatawwu_notifier_sender_loop_timestamp_seconds",
    "When the sender last began a pass over the ledger (Unix time)",
)


@contextlib.asynccontextmanager
async def timed_send(channel: str) -> AsyncIterator[None]:
    """Observe how long the block (one provider call) took, whatever its outcome."""
    began = time.perf_counter()
    try:
        yield
    finally:
        SEND_SECONDS.labels(channel).observe(time.perf_counter() - began)


def sender_looped() -> None:
    """The sender is beginning a pass over the ledger."""
    SENDER_LOOP.set(time.time())


def sender_idle_s() -> float:
    """Seconds since the sender last began a pass (infinite before its first)."""
    last = SENDER_LOOP.collect()[0].samples[0].value
    return time.time() - last if last else float("inf")


async def watch_ledger(
    pool: asyncpg.Pool, stopping: asyncio.Event, every_s: float = LEDGER_EVERY_S
) -> None:
    """Refresh the backlog gauges until `stopping` is set (a failed look is skipped)."""
    while not stopping.is_set():
        try:
            await refresh_ledger_gauges(pool)
        except Exception as exc:  # the sender reports the outage; the gauges keep their values
            log.debug("ledger_gauges_skipped", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=every_s)


async def refresh_ledger_gauges(pool: asyncpg.Pool) -> None:
    """Waiting rows and the oldest overdue one, per channel (the `outbox_due` index)."""
    rows = await pool.fetch(
        "select channel, count(*) as waiting, coalesce(extract(epoch from now()"
        " - min(next_attempt_at) filter (where next_attempt_at <= now())), 0) as overdue"
        " from outbox where status in ('pending', 'sending') group by channel"
    )
    found = {r["channel"]: r for r in rows}
    for channel in {str(EMAIL), str(SMS), *found}:
        row = found.get(channel)
        BACKLOG.labels(channel).set(row["waiting"] if row else 0)
        OLDEST_DUE.labels(channel).set(float(row["overdue"]) if row else 0.0)
