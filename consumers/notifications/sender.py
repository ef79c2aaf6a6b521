"""Deliver what the ledger holds: claim, check, render, send, record, report.

A claim moves due rows to `sending` with a lease and a fresh lease token (one statement,
`skip locked`), so two senders never take the same row; a sender killed mid-send leaves
the lease to expire and the row is sent again with the same idempotency key (see
`providers`), which a provider uses to drop the repeat. Fencing: every later update of a
row names the claim's token, so a sender whose lease expired and whose row was claimed
again records nothing (its result is discarded, `fenced_total`), and a sender never
starts a provider request once its lease has expired (checked just before the request). Consent, contact details and quiet hours are checked here, at
send time (`rules.decide`). Final outcomes are published on `tatawwu.notifications` by
`report`, then marked reported: a crash in between publishes again under the same event
id, which consumers deduplicate. The log lines about one message carry `trace_id`, the
trace its cause event's record carried (kept in the ledger row as `cause_trace_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog
from structlog.contextvars import bind_contextvars, unbind_contextvars

from consumers.notifications import metrics
from consumers.notifications.feedback import hold_contacts
from consumers.notifications.limits import TokenBucket
from consumers.notifications.outcomes import one_line, outcome_event, publish_outcomes
from consumers.notifications.providers import DeliveryError, Providers
from consumers.notifications.rules import (
    EMAIL,
    SCHEDULED,
    SMS,
    Claimed,
    Leads,
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
        self.leads = Leads.of(settings)
        self._limit = asyncio.Semaphore(concurrency)
        self._rates = {
            EMAIL: TokenBucket(settings.notify_email_per_s),
            SMS: TokenBucket(settings.notify_sms_per_s),
        }

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
                    lease_until = now() + make_interval(secs => $2), lease_token = $3
                from due where o.notification_id = due.notification_id
                returning o.notification_id, o.cause_event_id, o.template, o.channel,
                    o.volunteer_id, o.context, o.attempts, o.cause_time, o.cause_trace_id,
                    o.lease_token
                """,
                self.batch,
                self.lease_s,
                uuid.uuid4(),  # this claim's token: a re-claim by anyone replaces it
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
            contacts = await hold_contacts(conn, contacts)  # STOP, complaints, bounces
            reminders = [c for c in claimed if c.template in SCHEDULED]
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
            leads=self.leads,
        )  # fmt: skip
        if decision.suppress is not None:
            await self._finish(row, "suppressed", reason=str(decision.suppress))
            return
        if decision.until is not None:
            if not await self._record(
                row, "status = 'pending', attempts = attempts - 1, next_attempt_at = $3,"
                " lease_until = null", decision.until,
            ):  # fmt: skip
                return
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
            async with self._limit:
                await self._rates[row.channel].acquire()
                if not await self._still_held(row):
                    return
                async with metrics.timed_send(row.channel):
                    provider_id = await self._send(row, decision.address, language, variables)
        except DeliveryError as exc:
            detail = one_line(str(exc))
            if exc.permanent or row.attempts >= self.settings.notify_max_attempts:
                await self._finish(row, "failed", error=detail)
                return
            delay = backoff_s(row.attempts)
            if not await self._record(
                row, "status = 'pending', last_error = $3, lease_until = null,"
                " next_attempt_at = now() + make_interval(secs => $4)", detail, delay,
            ):  # fmt: skip
                return
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
        if not await self._record(
            row, "status = $3, reason = $4, last_error = coalesce($5, last_error),"
            " provider_id = $6, finished_at = now(), lease_until = null, reported = false",
            status, reason, error, provider_id,
        ):  # fmt: skip
            return
        metrics.MESSAGES.labels(row.channel, status).inc()
        log.info("notification_" + status, notification_id=row.notification_id,
                 template=row.template, channel=row.channel, attempts=row.attempts,
                 reason=reason, error=error)  # fmt: skip

    async def _send(self, row: Claimed, address: str, language: str, variables: Any) -> str:
        """Render and hand one message to its provider, the row's id as idempotency key."""
        if row.channel == EMAIL:
            mail = render_email(row.template, language, variables)
            return await self.providers.email(row.notification_id, address, mail)
        text = render_sms(row.template, language, variables)
        return await self.providers.sms(row.notification_id, address, text)

    async def _still_held(self, row: Claimed) -> bool:
        """Whether this claim's lease is still running (in the database's time), just before
        a provider request: a sender that waited past it (a slow claim, a pause) leaves
        the row to whoever claims it next instead of racing them."""
        async with self.pool.acquire() as conn:
            held = await conn.fetchval(
                "select lease_until > now() from outbox where notification_id = $1"
                " and lease_token = $2 and status = 'sending'",
                row.notification_id,
                row.lease_token,
            )
        if not held:
            self._fenced(row, "before_send")
        return bool(held)

    async def _record(self, row: Claimed, assignments: str, *args: Any) -> bool:
        """Update the row only while this claim holds it (its lease token); False: fenced.

        The token, not the lease's end, decides: a sender whose lease ran out but whose
        row nobody claimed since is still its only holder, and its result stands.
        """
        async with self.pool.acquire() as conn:
            done = await conn.execute(
                f"update outbox set {assignments} where notification_id = $1"
                " and lease_token = $2 and status = 'sending'",
                row.notification_id,
                row.lease_token,
                *args,
            )
        if done == "UPDATE 0":
            self._fenced(row, "record")
            return False
        return True

    def _fenced(self, row: Claimed, stage: str) -> None:
        metrics.FENCED.labels(row.channel, stage).inc()
        log.warning("notification_fenced", notification_id=row.notification_id,
                    channel=row.channel, attempts=row.attempts, stage=stage)  # fmt: skip

    async def report(self, limit: int = 500) -> int:
        """Publish the final outcomes not yet published; returns how many.

        The rows stay locked (`skip locked`) until they are marked: several senders on one
        ledger each publish their own share, not the same outcomes twice.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "select notification_id, cause_event_id, template, channel, volunteer_id,"
                " status, reason, last_error, attempts, finished_at from outbox"
                " where not reported and status in ('sent', 'failed', 'suppressed')"
                " order by finished_at limit $1 for update skip locked",
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
