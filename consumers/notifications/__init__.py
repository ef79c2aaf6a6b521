"""The notifier: SMS and email to volunteers, at most one per (event, template, channel).

Two halves in one process (`tatawwu notifications run`):

1. **Enqueue** — a projector on the exactly-once runtime (`consumers.runtime`), its own
   consumer group and schema `notifications`. For each fresh event it refolds the
   volunteer's contact details and the opportunity's title (from their histories, so
   arrival order never matters), keeps each sign-up's status (the shared
   `participations` rules, for reminders) and inserts one ledger row per (event, template,
   channel) that the rules in `rules.py` call for — in the same transaction as the
   consumed offsets. A duplicate event id, a redelivery or a replay finds the row
   already there.
2. **Deliver** (`sender.py`) — claims due rows with a lease, checks consent and
   contact details *at send time*, holds SMS during quiet hours, renders the text in
   the volunteer's language (`templates.py`) and hands it to the provider: real SMTP
   (aiosmtplib) for email, an HTTP API for SMS, each with the notification id as its
   idempotency key. Failures retry with backoff, then fail for good. Every final
   outcome is published as `notification.sent`, `notification.failed` or
   `notification.suppressed` on `tatawwu.notifications` (ids only, no text or contact).

Not registered with `projections rebuild`: a rebuilt ledger would start empty and
message everyone again. The age rule (`rules.is_stale`) keeps a first start over an
old log silent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg

from consumers import history, participations
from consumers.history import History, ordered
from consumers.notifications.rules import TRIGGERS, is_stale, notification_id
from consumers.participations import PARTICIPATION_TYPES, upsert_participations
from consumers.runtime import Projector, identity
from consumers.volunteers import PROFILE_TYPES, fold_profile
from infra.migrations import Migrations
from infra.settings import Settings
from schemas.envelope import Event
from schemas.topics import ATTENDANCE, CAMPAIGNS, SIGNUPS, VOLUNTEERS

NAME = "notifications"
OPPORTUNITY_TYPES = frozenset({"opportunity.published", "opportunity.cancelled"})
CONTACT_COLUMNS = {
    "given_name": "text", "phone": "text", "email": "text", "language": "text",
    "consent": "jsonb", "status": "text",
}  # fmt: skip
OPPORTUNITY_COLUMNS = {
    "title_ar": "text",
    "title_en": "text",
    "starts_at": "timestamptz",
    "status": "text",
}
MIGRATIONS = Migrations(NAME, Path(__file__).with_name("sql"))
Row = tuple[str, str, str, str, str, dt.datetime, dict[str, Any]]


def fold_contact(events: History) -> dict[str, Any]:
    """How to reach the volunteer, from the same profile rules as the directory."""
    profile = fold_profile(events)
    return {k: profile.get(k) for k in CONTACT_COLUMNS}


def fold_opportunity(events: History) -> dict[str, Any]:
    """Title and start of an opportunity (cancelled stays cancelled)."""
    row: dict[str, Any] = {"status": "unknown"}
    for _time, _id, event_type, data in ordered(events):
        if event_type == "opportunity.published":
            row.update({k: data.get(k) for k in ("title_ar", "title_en", "starts_at")})
            row["status"] = "cancelled" if row["status"] == "cancelled" else "published"
        elif event_type == "opportunity.cancelled":
            row["status"] = "cancelled"
    return row


def ledger_rows(events: Sequence[Event[Any]], now: dt.datetime, max_age_hours: float) -> list[Row]:
    """The ledger rows these events call for (pure).

    Each is (notification id, cause event id, template, channel, volunteer id, cause
    time, context): the context keeps what the text needs from the event.
    """
    rows: list[Row] = []
    for event in events:
        triggers = TRIGGERS.get(event.type)
        if triggers is None or is_stale(event.time, now, max_age_hours):
            continue
        data = event.data
        context: dict[str, Any] = {}
        if hasattr(data, "opportunity_id"):
            context["opportunity_id"] = data.opportunity_id
        if isinstance(getattr(data, "hours", None), Decimal | float | int):
            context["hours"] = str(data.hours)
        for template, channels in triggers:
            for channel in channels:
                rows.append((
                    # Keyed by the cause's identity (source and id): two partners may
                    # both use an id; each of their events notifies.
                    notification_id(identity(event), template, channel), event.id, template,
                    str(channel), data.volunteer_id, event.time, context,
                ))  # fmt: skip
    return rows


def build_projector(settings: Settings) -> Projector:
    """The enqueue half, configured (the age rule reads the settings)."""

    async def apply(conn: asyncpg.Connection, events: Sequence[Event[Any]]) -> None:
        entity_events = [e for e in events if e.type in PROFILE_TYPES | OPPORTUNITY_TYPES]
        histories = await history.record_and_load(
            conn,
            entity_events,
            lambda e: (
                ("volunteer", e.data.volunteer_id)
                if e.type in PROFILE_TYPES
                else ("opportunity", e.data.opportunity_id)
            ),
        )
        await history.refold(
            conn, histories, "volunteer", fold_contact, "contacts", "volunteer_id", CONTACT_COLUMNS
        )
        await history.refold(
            conn, histories, "opportunity", fold_opportunity, "opportunities", "opportunity_id",
            OPPORTUNITY_COLUMNS,
        )  # fmt: skip
        await upsert_participations(conn, events)  # sign-up status, for reminders
        rows = ledger_rows(events, dt.datetime.now(dt.UTC), settings.notify_max_age_hours)
        if rows:
            await conn.executemany(
                "insert into outbox (notification_id, cause_event_id, template, channel,"
                " volunteer_id, cause_time, context) values ($1, $2, $3, $4, $5, $6, $7::jsonb)"
                " on conflict do nothing",
                rows,
            )

    return Projector(
        name=NAME,
        topics=(VOLUNTEERS.name, SIGNUPS.name, ATTENDANCE.name, CAMPAIGNS.name),
        migrations=(history.MIGRATIONS, participations.MIGRATIONS, MIGRATIONS),
        apply=apply,
        event_types=PROFILE_TYPES | OPPORTUNITY_TYPES | frozenset(TRIGGERS) | PARTICIPATION_TYPES,
    )
