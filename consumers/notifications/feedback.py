"""Replies and provider feedback, on the notifier's side (migration 0005).

The gateway's provider webhooks (`producers/gateway/webhooks.py`) write three things into
this schema; the notifier honours and reports them:

- `consent_holds`: a consent the platform turned off from a volunteer's STOP or a
  complaint. `hold_contacts` applies it to the contacts the sender is about to use, so
  the channel counts as refused at once (an SMS already queued is suppressed as
  `no_consent`), until this notifier's own projector has applied that very consent
  event (it is in `history`); from then on the contact's consent is the truth.
- `undeliverable`: email addresses that bounced for good. The contact is used without
  its email while it still has that address (suppressed as `no_contact`); a profile
  update to another address sends again.
- `feedback`: what providers said about messages they took, matched to the ledger row
  by the provider's message id and published once as `notification.delivered`,
  `notification.bounced` or `notification.failed` (the provider's reason) by
  `report_feedback`, which the notifier runs beside its sender (`run_feedback`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import asyncpg
import structlog

from consumers.notifications import metrics
from consumers.notifications.outcomes import SOURCE, common_fields, one_line, publish_outcomes
from consumers.runtime import TRANSIENT
from schemas.notifications import NotificationBounced, NotificationDelivered, NotificationFailed
from schemas.registry import new_event

log = structlog.get_logger(__name__)
# A receipt may come before the sender recorded the provider's id of its message (the
# provider answers, then reports at once): unmatched feedback waits this long for it.
MATCH_WAIT = dt.timedelta(minutes=10)


async def hold_contacts(
    conn: asyncpg.Connection, contacts: dict[str, dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The contacts with pending consent holds and undeliverable addresses applied."""
    if not contacts:
        return contacts
    holds = await conn.fetch(
        "select h.volunteer_id, h.channel from consent_holds h where h.volunteer_id = any($1)"
        " and not exists (select 1 from history e where e.event_id = h.event_id"
        " and e.source = h.source)",
        list(contacts),
    )
    emails = {str(c["email"]).lower() for c in contacts.values() if c.get("email")}
    dead = {
        r["address"]
        for r in await conn.fetch(
            "select address from undeliverable where channel = 'email' and address = any($1)",
            list(emails),
        )
    }
    if not holds and not dead:
        return contacts
    held = dict(contacts)
    for r in holds:
        contact = dict(held[r["volunteer_id"]])
        contact["consent"] = {**(contact.get("consent") or {}), r["channel"]: False}
        held[r["volunteer_id"]] = contact
    for volunteer_id, contact in held.items():
        if contact.get("email") and str(contact["email"]).lower() in dead:
            held[volunteer_id] = {**contact, "email": None}
    return held


def feedback_event(row: dict[str, Any]) -> Any:
    """The `notification.*` event of one matched feedback row (its id is stable)."""
    common = common_fields(row)
    reason = one_line(row["reason"] or row["outcome"])
    if row["outcome"] == "delivered":
        data: Any = NotificationDelivered(**common)
    elif row["outcome"] == "bounced":
        data = NotificationBounced(**common, permanent=row["permanent"], reason=reason)
    else:
        data = NotificationFailed(**common, error=reason, attempts=max(1, row["attempts"]))
    event_id = f"{row['notification_id']}.receipt.{row['outcome']}"
    return new_event(data, source=SOURCE, event_id=event_id, time=row["received_at"])


async def report_feedback(pool: asyncpg.Pool, producer: Any, topic: str, limit: int = 500) -> int:
    """Publish the feedback not yet published; returns how many rows were settled."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "select f.feedback_id, f.outcome, f.permanent, f.reason, f.received_at, f.channel,"
            " o.notification_id, o.volunteer_id, o.template, o.cause_event_id, o.attempts"
            " from feedback f left join outbox o on o.provider_id = f.provider_id"
            "  and o.channel = f.channel"
            " where not f.reported and (o.notification_id is not null or f.received_at < $2)"
            " order by f.received_at limit $1 for update of f skip locked",
            limit,
            dt.datetime.now(dt.UTC) - MATCH_WAIT,
        )
        if not rows:
            return 0
        matched = [dict(r) for r in rows if r["notification_id"] is not None]
        if matched:
            await publish_outcomes(producer, topic, [feedback_event(r) for r in matched])
        await conn.execute(
            "update feedback f set reported = true, matched = f.feedback_id = any($2::text[])"
            " where f.feedback_id = any($1::text[])",
            [r["feedback_id"] for r in rows],
            [r["feedback_id"] for r in matched],
        )
    for r in matched:  # after the commit: counted once, as published
        if r["outcome"] in metrics.FEEDBACK:
            metrics.count_feedback(str(r["channel"]), r["template"], r["outcome"])
    for outcome in {r["outcome"] for r in matched}:
        log.info("feedback_reported", outcome=outcome,
                 count=sum(r["outcome"] == outcome for r in matched))  # fmt: skip
    if len(matched) < len(rows):
        log.warning("feedback_unmatched", count=len(rows) - len(matched))
    return len(rows)


async def run_feedback(
    pool: asyncpg.Pool, producer: Any, topic: str, stopping: asyncio.Event, idle_s: float = 0.5
) -> None:
    """Report feedback until `stopping` is set (database or Kafka away: try again later)."""
    while not stopping.is_set():
        try:
            busy = await report_feedback(pool, producer, topic)
        except TRANSIENT as exc:
            log.warning("feedback_retry", error=type(exc).__name__)
            busy = 0
        if not busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=idle_s)
