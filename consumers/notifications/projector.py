"""The notifier's enqueue half, declared: contacts and opportunities refolded, sign-ups, ledger.

For each fresh event it refolds the volunteer's contact details and the opportunity's
title (from their histories, so arrival order never matters), keeps each sign-up's
status (the shared participations, for reminders) and inserts one ledger row per
(event, template, channel) the rules call for, in the same transaction as the consumed
offsets. A duplicate event id, a redelivery or a replay finds the row already there.
Each row keeps the trace id its cause's record carried (`cause_trace_id`, migration
0003), so the sender's lines for that message name the trace that caused it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from consumers.history import ERASED
from consumers.notifications.alerts import enqueue_alerts, late_alerts
from consumers.notifications.changes import enqueue_changes
from consumers.notifications.rules import (
    CONTACT_COLUMNS,
    OPPORTUNITY_COLUMNS,
    OPPORTUNITY_TYPES,
    TRIGGERS,
    QuietHours,
    fold_contact,
    fold_opportunity,
    ledger_rows,
)
from consumers.notifications.waitlist import enqueue_promotions
from consumers.parts import Entity, Hook, participations, read_model, refold, rules
from consumers.runtime import Projector
from consumers.runtime.batch import applying_traces
from consumers.volunteers.rules import PROFILE_TYPES
from infra.migrations import Migrations
from infra.settings import Settings
from schemas.envelope import Event

NAME = "notifications"
SQL = Path(__file__).with_name("sql")
MIGRATIONS = Migrations(NAME, SQL)
CONTACT = Entity("volunteer", PROFILE_TYPES, fold_contact, "contacts", CONTACT_COLUMNS)
OPPORTUNITY = Entity(
    "opportunity", OPPORTUNITY_TYPES, fold_opportunity, "opportunities", OPPORTUNITY_COLUMNS
)
FORGET_PENDING = (
    "update outbox set status = 'suppressed', reason = 'no_contact', finished_at = now(),"
    " next_attempt_at = now() where volunteer_id = any($1) and status = 'pending'"
)
INSERT_LEDGER = (
    "insert into outbox (notification_id, cause_event_id, template, channel,"
    " volunteer_id, cause_time, context, cause_trace_id)"
    " values ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)"
    # A row per pair (the attendance confirmation) is caused by the pair's earliest sign-up,
    # whatever the order the sign-ups arrive in; any other row's id is its cause's.
    " on conflict (notification_id) do update set cause_event_id = excluded.cause_event_id,"
    "  cause_time = excluded.cause_time, context = excluded.context,"
    "  cause_trace_id = excluded.cause_trace_id"
    " where outbox.status = 'pending' and (excluded.cause_time, excluded.cause_event_id)"
    "  < (outbox.cause_time, outbox.cause_event_id)"
)


def enqueue(settings: Settings) -> Hook:
    """The hook inserting the ledger rows a batch calls for (the age rule configured).

    Then the derived messages: opportunity changes, waiting-list promotions, alerts (those
    of the batch's publications, then those of volunteers known late).
    """
    max_age_hours = settings.notify_max_age_hours
    quiet = QuietHours.parse(settings.notify_quiet_hours, settings.notify_timezone)
    zone = ZoneInfo(settings.notify_timezone)

    async def apply(conn: asyncpg.Connection, events: Sequence[Event[Any]], _: Any) -> None:
        # Each row keeps its cause's trace, so the sender's lines name it later.
        traces = applying_traces(events)
        now = dt.datetime.now(dt.UTC)
        rows = ledger_rows(events, now, max_age_hours, traces)
        if rows:
            await conn.executemany(INSERT_LEDGER, rows)
        await enqueue_changes(conn, events, now, max_age_hours, traces)
        await enqueue_promotions(conn, events, now, max_age_hours, traces)
        await enqueue_alerts(conn, events, now, max_age_hours, traces, quiet, zone)
        await late_alerts(conn, events, now, max_age_hours, traces, quiet, zone)

    return apply


# A bounced address is kept while a contact still has it (nothing more is sent there);
# one no contact has any more (its volunteer erased, or moved to another address) goes.
FORGET_UNUSED_ADDRESSES = """
delete from undeliverable u where u.channel = 'email'
  and not exists (select 1 from contacts c where lower(c.email) = u.address)
"""

# What the providers keep of the erased volunteers' messages, asked to be deleted there.
ASK_PROVIDERS = """
insert into provider_erasures (channel, provider_id, volunteer_id)
select channel, provider_id, volunteer_id from outbox
where volunteer_id = any($1) and coalesce(provider_id, '') <> ''
on conflict do nothing
"""


async def forget_erased(conn: asyncpg.Connection, events: Sequence[Event[Any]], _: Any) -> None:
    """An erased volunteer: pending messages are dropped (suppressed, no contact) and no
    ledger row keeps a context; their contact row is refolded without personal fields (the
    refold runs first), a bounced address of theirs that no contact has any more is
    forgotten, and the providers are asked to delete the messages they kept
    (`provider_erasure.py`)."""
    erased = [e.subject for e in events if e.type == ERASED]
    if erased:
        await conn.execute(FORGET_PENDING, erased)
        await conn.execute("update outbox set context = '{}' where volunteer_id = any($1)", erased)
        await conn.execute(FORGET_UNUSED_ADDRESSES)
        await conn.execute(ASK_PROVIDERS, erased)
        await conn.execute(
            "insert into erasures_in_flight (volunteer_id) select distinct volunteer_id"
            " from outbox where volunteer_id = any($1) and status = 'sending'"
            " on conflict do nothing",
            erased,
        )


def build_projector(settings: Settings) -> Projector:
    """The enqueue half, configured (the age rule reads the settings).

    Participations fold inside the transaction (no precompute), as they always have here.
    """
    return read_model(
        NAME,
        refold(CONTACT, OPPORTUNITY),
        participations(precompute=False),  # sign-up status, for reminders
        rules("ledger", TRIGGERS, enqueue(settings)),
        rules("erasure", {ERASED}, forget_erased),
        sql=SQL,
    )
