"""Deliver what the ledger holds: claim, check, render, send, record, report.

A claim moves due rows to `sending` with a lease and a fresh lease token (one statement,
`skip locked`), so two senders never take the same row; a sender killed mid-send leaves
the lease to expire and the row is sent again with the same idempotency key (see
`providers`), which a provider uses to drop the repeat. Fencing: every later update of a
row names the claim's token, so a sender whose lease expired and whose row was claimed
again records nothing (its result is discarded, `fenced_total`), and a sender never
starts a provider request once its lease has expired (checked just before the request,
`leases.py`). Consent, contact details and quiet hours are checked here, at send time
(`rules.decide`).

A pipeline, not claim-wait-claim: each claimed row is delivered by its own task, and
the sender claims again as soon as it holds fewer than `notify_window` rows, so no claim
waits for its slowest send. Underneath, emails share a pool of open SMTP connections,
SMS go out in batches (`sms_batcher.py`), and the rows' updates are written together
(`ledger_writer.py`); each row still goes check, send, record, in that order. Final outcomes are published on `tatawwu.notifications` by
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
from consumers.notifications.leases import Leases
from consumers.notifications.ledger_writer import Change, LedgerWriter
from consumers.notifications.limits import TokenBucket
from consumers.notifications.outcomes import one_line, outcome_event, publish_outcomes
from consumers.notifications.providers import DeliveryError, Providers, Sms
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
from consumers.notifications.sms_batcher import SmsBatcher
from consumers.notifications.templates import render_email, render_sms
from consumers.runtime import TRANSIENT
from infra.settings import Settings
from schemas.topics import NOTIFICATIONS

log = structlog.get_logger(__name__)
Clock = Callable[[], dt.datetime]
# Outcomes are published up to this many a transaction; while messages keep finishing,
# one transaction and one produce request every REPORT_LINGER_S, not one per ledger write.
REPORT_ROWS, REPORT_LINGER_S = 500, 0.25


class Fenced(Exception):
    """This sender's lease on the row ran out before the provider request: nothing sent."""


class Sender:
    """Claims due ledger rows and delivers them; publishes final outcomes."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        producer: Any,
        providers: Providers,
        *,
        batch: int = 100,
        lease_s: float = 60.0,
        clock: Clock | None = None,
        topic_prefix: str = "",
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.producer = producer
        self.providers = providers
        self.window = settings.notify_window
        self.batch = min(batch, self.window)
        self.lease_s = lease_s
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.topic = topic_prefix + NOTIFICATIONS.name
        self.quiet = QuietHours.parse(settings.notify_quiet_hours, settings.notify_timezone)
        self.zone = self.quiet.zone if self.quiet else dt.UTC
        self.max_future = dt.timedelta(seconds=settings.notify_max_future_s)
        self.leads = Leads.of(settings)
        self._rates = {
            EMAIL: TokenBucket(settings.notify_email_per_s),
            SMS: TokenBucket(settings.notify_sms_per_s),
        }
        self._finals = asyncio.Event()  # a final outcome was recorded: report it
        self.ledger = LedgerWriter(pool, on_final=self._finals.set)
        self.leases = Leases(pool, lease_s, renew=settings.notify_lease_renew)
        self.sms = SmsBatcher(providers, settings.notify_sms_batch)
        self._room = asyncio.Event()  # a row was let go: there may be room for a claim
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, stopping: asyncio.Event, idle_s: float = 0.5) -> None:
        """Deliver and report until `stopping` is set (the rows held are finished first)."""
        done = asyncio.Event()
        helpers = [asyncio.create_task(self._report_loop(done, idle_s)),
                   asyncio.create_task(self.leases.run(done))]  # fmt: skip
        try:
            while not stopping.is_set():
                metrics.sender_looped()
                self._room.clear()  # before the claim: a row let go meanwhile wakes the wait
                try:
                    busy = await self.deliver_due(wait=False)
                except TRANSIENT as exc:  # database away: leases and `reported` cover it
                    log.warning("sender_retry", error=type(exc).__name__,
                                detail=one_line(str(exc)))  # fmt: skip
                    busy = 0
                if not busy:  # nothing due, or no room: until a row is let go, or idle_s
                    wake = asyncio.create_task(self._room.wait())
                    stop = asyncio.create_task(stopping.wait())
                    await asyncio.wait({wake, stop}, timeout=idle_s,
                                       return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                    wake.cancel()
                    stop.cancel()
            await self.drain()
        finally:
            done.set()
            await asyncio.gather(*helpers)

    async def drain(self) -> None:
        """Wait for every row this sender holds to be finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    async def deliver_due(self, *, wait: bool = True) -> int:
        """One claim of due rows (as many as there is room for), each delivered by its own
        task; `wait`: until they are all finished. Returns how many were claimed."""
        room = self.window - len(self._tasks)
        if room < min(self.batch, self.window // 4 or 1):
            return 0  # a claim of a few rows costs as much as a full one: wait for room
        began = self.leases.now()
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
                min(room, self.batch),
                self.lease_s,
                uuid.uuid4(),  # this claim's token: a re-claim by anyone replaces it
            )
            if not rows:
                return 0
            claimed = [Claimed(**dict(r)) for r in rows]
            self.leases.claimed(claimed, began)
            contacts = {
                r["volunteer_id"]: dict(r)
                for r in await conn.fetch(
                    "select volunteer_id, given_name, phone, email, language, consent, status"
                    " from contacts where volunteer_id = any($1::text[])",
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
        tasks = [self._start(c, contacts, opportunities, signups) for c in claimed]
        if wait:
            await asyncio.gather(*tasks)
        return len(claimed)

    def _start(self, row: Claimed, *lookups: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(self._deliver_or_fail(row, *lookups))
        self._tasks.add(task)

        def let_go(_: asyncio.Task[None]) -> None:
            self._tasks.discard(task)
            self.leases.done(row)
            self._room.set()

        task.add_done_callback(let_go)
        return task

    async def _deliver_or_fail(self, row: Claimed, *lookups: Any) -> None:
        """Deliver; a bug met on one row (not the plumbing) fails that row, not the sender.

        Each row is delivered in its own task, so the cause's trace id bound here names
        this row's lines only (held, retried, sent, failed, suppressed). The plumbing
        failing (the database away) leaves the row to its lease: claimed again later.
        """
        if row.cause_trace_id is not None:
            bind_contextvars(trace_id=row.cause_trace_id)
        else:
            unbind_contextvars("trace_id")  # none may be inherited from the claiming task
        try:
            await self._deliver(row, *lookups)
        except TRANSIENT as exc:
            log.warning("notification_unrecorded", notification_id=row.notification_id,
                        error=type(exc).__name__, detail=one_line(str(exc)))  # fmt: skip
        except Exception as exc:
            detail = one_line(f"{type(exc).__name__}: {exc}")
            log.error("notification_error", notification_id=row.notification_id, error=detail)
            with contextlib.suppress(*TRANSIENT):
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
                row, Change("pending", until=decision.until, attempts_delta=-1)
            ):
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
        began: list[float] = []

        async def ready() -> None:  # with its connection or in its batch, just before sending
            await self._rates[row.channel].acquire()
            if not self.leases.held(row):
                self._fenced(row, "before_send")
                raise Fenced(row.notification_id)
            began.append(self.leases.now())

        try:
            provider_id = await self._send(row, decision.address, language, variables, ready)
        except Fenced:
            return  # the row is left to whoever claims it next
        except DeliveryError as exc:
            self._timed(row, began)
            detail = one_line(str(exc))
            if exc.permanent or row.attempts >= self.settings.notify_max_attempts:
                await self._finish(row, "failed", error=detail)
                return
            delay = backoff_s(row.attempts)
            if not await self._record(row, Change("pending", error=detail, retry_in_s=delay)):
                return
            metrics.RETRIES.labels(row.channel).inc()
            log.warning("notification_retry", notification_id=row.notification_id,
                        channel=row.channel, attempts=row.attempts, retry_in_s=round(delay, 1),
                        error=detail)  # fmt: skip
            return
        self._timed(row, began)
        await self._finish(row, "sent", provider_id=provider_id)

    @staticmethod
    def _timed(row: Claimed, began: list[float]) -> None:
        if began:  # the request was made: how long the provider took (batch or message)
            metrics.SEND_SECONDS.labels(row.channel).observe(Leases.now() - began[0])

    async def _finish(
        self,
        row: Claimed,
        status: str,
        *,
        reason: str | None = None,
        error: str | None = None,
        provider_id: str | None = None,
    ) -> None:
        change = Change(status, reason=reason, error=error, provider_id=provider_id)
        if not await self._record(row, change):
            return
        metrics.finished(row.channel, row.template, status)
        log.info("notification_" + status, notification_id=row.notification_id,
                 template=row.template, channel=row.channel, attempts=row.attempts,
                 reason=reason, error=error)  # fmt: skip

    async def _send(
        self, row: Claimed, address: str, language: str, variables: Any, ready: Any
    ) -> str:
        """Render and hand one message to its provider, the row's id as idempotency key."""
        if row.channel == EMAIL:
            mail = render_email(row.template, language, variables)
            return await self.providers.email(row.notification_id, address, mail, ready)
        text = render_sms(row.template, language, variables)
        return await self.sms.send(Sms(row.notification_id, address, text), ready)

    async def _record(self, row: Claimed, change: Change) -> bool:
        """Update the row only while this claim holds it (its lease token); False: fenced.

        The token, not the lease's end, decides: a sender whose lease ran out but whose
        row nobody claimed since is still its only holder, and its result stands.
        """
        if await self.ledger.record(row, change):
            return True
        self._fenced(row, "record")
        return False

    def _fenced(self, row: Claimed, stage: str) -> None:
        metrics.FENCED.labels(row.channel, stage).inc()
        log.warning("notification_fenced", notification_id=row.notification_id,
                    channel=row.channel, attempts=row.attempts, stage=stage)  # fmt: skip

    async def _report_loop(self, done: asyncio.Event, idle_s: float) -> None:
        """Publish final outcomes as they are recorded, until `done` (then once more)."""
        while True:
            finished = done.is_set()
            self._finals.clear()
            try:
                reported = await self.report()
            except TRANSIENT as exc:  # database or Kafka away: `reported` covers it
                log.warning("report_retry", error=type(exc).__name__, detail=one_line(str(exc)))
                reported = 0
            if finished:
                return
            if 0 < reported < REPORT_ROWS:  # more are finishing: let them gather a moment
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(done.wait(), timeout=REPORT_LINGER_S)
            elif not reported:
                wake = asyncio.create_task(self._finals.wait())
                stop = asyncio.create_task(done.wait())
                await asyncio.wait({wake, stop}, timeout=idle_s,
                                   return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
                wake.cancel()
                stop.cancel()

    async def report(self, limit: int = REPORT_ROWS) -> int:
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
