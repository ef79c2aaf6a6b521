"""Deliver what the ledger holds: claim, check, render, send, record, report.

A claim moves due rows to `sending` with a lease (one statement, `skip locked`), so two
senders never take the same row; a sender killed mid-send leaves the lease to expire and
the row is sent again with the same idempotency key (see `providers`), which a provider
uses to drop the repeat. Consent, contact details and quiet hours are checked here, at
send time (`rules.decide`). Final outcomes are published on `tatawwu.notifications` by
`report`, then marked reported: a crash in between publishes again under the same event
id, which consumers deduplicate. The log lines about one message carry `trace_id`, the
trace its cause event's record carried (kept in the ledger row as `cause_trace_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from structlog.contextvars import bind_contextvars, unbind_contextvars

from consumers.notifications import metrics
from consumers.notifications.outcomes import one_line, outcome_event, publish_outcomes
from consumers.notifications.providers import DeliveryError, Providers
from consumers.notifications.rules import (
    EMAIL,
    REMINDER,
    Claimed,
    QuietHours,
    backoff_s,
    decide,
    text_variables,
)
from consumers.notifications.templates import render_email, render_sms
from consumers.runtime import TRANSIENT
from infra.settings import Settings
from schemas.topics import NOTIFICATIONS

log = structlog.get_logger(__name__)
Clock = Callable[[], dt.datetime]


class Sender:
    """Claims due ledger rows and delivers them; publishes final outcomes."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        producer: Any,
        providers: Providers,
        *,
        batch: int = 50,
        concurrency: int = 10,
        lease_s: float = 60.0,
        clock: Clock | None = None,
        topic_prefix: str = "",
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.producer = producer
        self.providers = providers
        self.batch = batch
        self.lease_s = lease_s
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.topic = topic_prefix + NOTIFICATIONS.name
        self.quiet = QuietHours.parse(settings.notify_quiet_hours, settings.notify_timezone)
        self.zone = self.quiet.zone if self.quiet else dt.UTC
        self.max_future = dt.timedelta(seconds=settings.notify_max_future_s)
        self._limit = asyncio.Semaphore(concurrency)

    async def run(self, stopping: asyncio.Event, idle_s: float = 0.5) -> None:
        """Deliver and report until `stopping` is set (the claim in flight is finished)."""
        while not stopping.is_set():
            metrics.sender_looped()
            try:
                busy = await self.deliver_due() + await self.report()
            except TRANSIENT as exc:  # database or Kafka away: leases and `reported` cover it
                log.warning("sender_retry", error=type(exc).__name__, detail=one_line(str(exc)))
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=idle_s)

    async def deliver_due(self) -> int:
        """One claim: up to `batch` due rows, delivered concurrently. Returns how many."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                """
                with due as (
                    select notification_id from outbox
                    where status in ('pending', 'sending') and next_attempt_at <= now()
                      and (status = 'pending' or lease_until < now())
                    order by next_attempt_at limit $1 for update skip locked)
                update outbox o set status = 'sending', attempts = o.attempts + 1,
                    lease_until = now() + make_interval(secs => $2)
                from due where o.notification_id = due.notification_id
                returning o.notification_id, o.cause_event_id, o.template, o.channel,
                    o.volunteer_id, o.context, o.attempts, o.cause_time, o.cause_trace_id
                """,
                self.batch,
                self.lease_s,
            )
            if not rows:
                return 0
            claimed = [Claimed(**dict(r)) for r in rows]
            contacts = {
                r["volunteer_id"]: dict(r)
                for r in await conn.fetch(
                    "select * from contacts where volunteer_id = any($1::text[])",
                    list({c.volunteer_id for c in claimed}),
                )
            }
            reminders = [c for c in claimed if c.template == REMINDER]
            signups = {
                (r["volunteer_id"], r["opportunity_id"]): r["signup_status"]
                for r in await conn.fetch(
                    "select volunteer_id, opportunity_id, signup_status from participations"
                    " where (volunteer_id, opportunity_id) in"
                    " (select * from unnest($1::text[], $2::text[]))",
                    [c.volunteer_id for c in reminders],
                    [c.context.get("opportunity_id", "") for c in reminders],
                )
            }
            opportunity_ids = list({c.context.get("opportunity_id") for c in claimed} - {None})
            opportunities = {
                r["opportunity_id"]: dict(r)
                for r in await conn.fetch(
                    "select * from opportunities where opportunity_id = any($1::text[])",
                    opportunity_ids,
                )
            }
        await asyncio.gather(
            *(self._deliver_or_fail(c, contacts, opportunities, signups) for c in claimed)
        )
        return len(claimed)

    async def _deliver_or_fail(self, row: Claimed, *lookups: Any) -> None:
        """Deliver; a bug met on one row (not the plumbing) fails that row, not the sender.

        Each row is delivered in its own task (`gather`), so the cause's trace id bound
        here names this row's lines only (held, retried, sent, failed, suppressed).
        """
        if row.cause_trace_id is not None:
            bind_contextvars(trace_id=row.cause_trace_id)
        else:
            unbind_contextvars("trace_id")  # none may be inherited from the claiming task
        try:
            await self._deliver(row, *lookups)
        except TRANSIENT:
            raise
        except Exception as exc:
            detail = one_line(f"{type(exc).__name__}: {exc}")
            log.error("notification_error", notification_id=row.notification_id, error=detail)
            await self._finish(row, "failed", error=detail)

    async def _deliver(
        self,
        row: Claimed,
        contacts: dict[str, dict[str, Any]],
        opportunities: dict[str, dict[str, Any]],
        signups: dict[tuple[str, str], str | None],
    ) -> None:
        contact = contacts.get(row.volunteer_id)
        opportunity_id = row.context.get("opportunity_id", "")
        decision = decide(
            row, contact, self.clock(), self.quiet, opportunities.get(opportunity_id),
            signups.get((row.volunteer_id, opportunity_id)), max_future=self.max_future,
        )  # fmt: skip
        if decision.suppress is not None:
            await self._finish(row, "suppressed", reason=str(decision.suppress))
            return
        if decision.until is not None:
            await self._record(
                "update outbox set status = 'pending', attempts = attempts - 1,"
                " next_attempt_at = $2, lease_until = null where notification_id = $1",
                row.notification_id,
                decision.until,
            )
            log.info("notification_held", notification_id=row.notification_id,
                     until=decision.until.isoformat())  # fmt: skip
            return
        assert contact is not None
        assert decision.address is not None
        variables = text_variables(
            row, contact, opportunities.get(row.context.get("opportunity_id", "")), self.zone
        )
        language = contact.get("language") or "ar"
        try:
            async with self._limit, metrics.timed_send(row.channel):
                if row.channel == EMAIL:
                    mail = render_email(row.template, language, variables)
                    provider_id = await self.providers.email(
                        row.notification_id, decision.address, mail
                    )
                else:
                    text = render_sms(row.template, language, variables)
                    provider_id = await self.providers.sms(
                        row.notification_id, decision.address, text
                    )
        except DeliveryError as exc:
            detail = one_line(str(exc))
            if exc.permanent or row.attempts >= self.settings.notify_max_attempts:
                await self._finish(row, "failed", error=detail)
                return
            delay = backoff_s(row.attempts)
            await self._record(
                "update outbox set status = 'pending', last_error = $2, lease_until = null,"
                " next_attempt_at = now() + make_interval(secs => $3) where notification_id = $1",
                row.notification_id,
                detail,
                delay,
            )
            metrics.RETRIES.labels(row.channel).inc()
            log.warning("notification_retry", notification_id=row.notification_id,
                        channel=row.channel, attempts=row.attempts, retry_in_s=round(delay, 1),
                        error=detail)  # fmt: skip
            return
        await self._finish(row, "sent", provider_id=provider_id)

    async def _finish(
        self,
        row: Claimed,
        status: str,
        *,
        reason: str | None = None,
        error: str | None = None,
        provider_id: str | None = None,
    ) -> None:
        await self._record(
            "update outbox set status = $2, reason = $3, last_error = coalesce($4, last_error),"
            " provider_id = $5, finished_at = now(), lease_until = null, reported = false"
            " where notification_id = $1",
            row.notification_id,
            status,
            reason,
            error,
            provider_id,
        )
        metrics.MESSAGES.labels(row.channel, status).inc()
        log.info("notification_" + status, notification_id=row.notification_id,
                 template=row.template, channel=row.channel, attempts=row.attempts,
                 reason=reason, error=error)  # fmt: skip

    async def _record(self, sql: str, *args: Any) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(sql, *args)

    async def report(self, limit: int = 500) -> int:
        """Publish the final outcomes not yet published; returns how many."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "select notification_id, cause_event_id, template, channel, volunteer_id,"
                " status, reason, last_error, attempts, finished_at from outbox"
                " where not reported and status in ('sent', 'failed', 'suppressed')"
                " order by finished_at limit $1",
                limit,
            )
            if not rows:
                return 0
            await publish_outcomes(
                self.producer, self.topic, [outcome_event(dict(r)) for r in rows]
            )
            await conn.execute(
                "update outbox set reported = true where notification_id = any($1::text[])",
                [r["notification_id"] for r in rows],
            )
        return len(rows)
