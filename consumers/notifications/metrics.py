"""Prometheus metrics of the notifier: what an operator paged at 3 a.m. asks first.

Are messages going out, on which channel and template, and how fast (`messages_total`
by outcome: sent, failed, suppressed here, and bounced, delivered from the providers'
feedback through `count_feedback`; `send_seconds`, `send_retries_total`)? Is the ledger
falling behind (`backlog_messages`, `pending_messages` by how long due,
`oldest_due_age_seconds`, refreshed by `watch_ledger`)? Is the sender still looping
(`sender_loop_timestamp_seconds`, also what `/ready` reads)?
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

from consumers.notifications.ledger_stats import AGE_LABELS, oldest_due_s, waiting
from consumers.notifications.rules import EMAIL, SMS

log = structlog.get_logger(__name__)
LEDGER_EVERY_S = 10.0  # one indexed count over the waiting rows this often

OUTCOMES = ("sent", "failed", "suppressed")  # the sender's own, final in the ledger
FEEDBACK = ("bounced", "delivered")  # what providers report later (webhooks)
MESSAGES = Counter(
    "tatawwu_notifier_messages_total",
    "Messages by channel, template and outcome (sent, failed, suppressed; bounced and "
    "delivered as the providers report them)",
    ["channel", "template", "outcome"],
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
LEASES_RENEWED = Counter(
    "tatawwu_notifier_lease_renewals_total",
    "Leases extended on rows still being worked on (queued behind a rate limit or a slow "
    "provider): without it another sender would claim them and ask the provider again",
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
PENDING = Gauge(
    "tatawwu_notifier_pending_messages",
    "Ledger rows waiting (pending or sending), by channel and how long they have been due "
    "(due_age: later = not due yet, 0_1m, 1_5m, 5_15m, 15_60m, 1h_plus)",
    ["channel", "due_age"],
)
SENDER_LOOP = Gauge(
    "tatawwu_notifier_sender_loop_timestamp_seconds",
    "When the sender last began a pass over the ledger (Unix time)",
)


def finished(channel: str, template: str, outcome: str) -> None:
    """Count a message the sender finished (`OUTCOMES`)."""
    if outcome not in OUTCOMES:
        msg = f"a finished message is one of {OUTCOMES}, not {outcome!r}"
        raise ValueError(msg)
    MESSAGES.labels(str(channel), template, outcome).inc()


def count_feedback(channel: str, template: str, outcome: str) -> None:
    """Count what a provider reported about a message sent earlier (`FEEDBACK`)."""
    if outcome not in FEEDBACK:
        msg = f"provider feedback is one of {FEEDBACK}, not {outcome!r}"
        raise ValueError(msg)
    MESSAGES.labels(str(channel), template, outcome).inc()


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
    """Waiting rows by how long due, and the oldest overdue one, per channel (the
    `outbox_due` index)."""
    rows = await waiting(pool)
    for channel in {str(EMAIL), str(SMS), *(r.channel for r in rows)}:
        mine = [r for r in rows if r.channel == channel]
        BACKLOG.labels(channel).set(sum(r.count for r in mine))
        OLDEST_DUE.labels(channel).set(oldest_due_s(mine))
        counts = {r.due_age: r.count for r in mine}
        for age in AGE_LABELS:
            PENDING.labels(channel, age).set(counts.get(age, 0))
