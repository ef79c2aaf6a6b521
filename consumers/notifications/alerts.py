"""Opportunity alerts: a published opportunity told to the volunteers it matches, once a day.

Who: registered volunteers who opted in (`consent.alerts`, a consent channel that is off
unless given) living in the opportunity's municipality and old enough by its minimum age
(`birth_year <= year of its start - min_age`: the birth year is all the profile has, so
a volunteer who turns that age later that year matches). The alert is an SMS (it needs
SMS consent too, checked when it goes, so a STOP stops alerts) of template
`opportunity_alert`.

At most one alert a day per volunteer: the `day` of an alert is the local date (the
platform's time zone, `notify_timezone`) on which it may go out, i.e. now, or the end of
the quiet hours (`notify_quiet_hours`, default 21:00-08:00 Asia/Qatar) when now is inside
them: an opportunity published at 23:00 is alerted at 08:00 the next morning, as that
day's alert. A volunteer whose alert for that day is already taken gets the
opportunity in the next day's digest instead: one message from the next local midnight
(held by the quiet hours until 08:00) listing how many opportunities wait and the first
one's title; later opportunities join the same digest (`alert_days.opportunity_ids`).

Efficient at broadcast size: one set-based statement per published opportunity matches
the volunteers, claims their day (`alert_days`, insert ... on conflict), writes or grows
their digests and inserts the ledger rows (ids computed in SQL), however many volunteers
match: no row-at-a-time round trips. It runs in the projector transaction; an opportunity
alerts once (`alerted_opportunities`), and not at all when the publication is older than
the age rule, already begun or cancelled.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from consumers.notifications.rules import PUBLISHED, QuietHours, is_stale, sql_notification_id
from consumers.notifications.schedule import ALERT
from schemas.envelope import Event

log = structlog.get_logger(__name__)
_ID = sql_notification_id("'alert ' || {who} || ' ' || {day}::text", f"'{ALERT}'", "'sms'")
CLAIM_OPPORTUNITY = (  # true once per opportunity; alerted_at: its earliest publication's
    # time whatever the order the republications arrive in (the read model is order-free)
    "insert into alerted_opportunities (opportunity_id, alerted_at, volunteers) values ($1, $2, 0)"
    " on conflict (opportunity_id) do update set alerted_at = excluded.alerted_at"
    " where excluded.alerted_at < alerted_opportunities.alerted_at"
    " returning xmax = 0"
)
ALERT_SQL = f"""
with matching as (
    select volunteer_id from contacts
    where status = 'registered' and (consent ->> 'alerts') = 'true'
      and municipality = $2 and birth_year <= $3
),
today as (
    insert into alert_days (volunteer_id, day, opportunity_ids, notification_id)
    select volunteer_id, $4::date, array[$1::text], {_ID.format(who="volunteer_id", day="$4::date")}
    from matching
    on conflict do nothing
    returning volunteer_id, notification_id
),
digest as (
    insert into alert_days (volunteer_id, day, opportunity_ids, notification_id)
    select m.volunteer_id, $4::date + 1, array[$1::text],
        {_ID.format(who="m.volunteer_id", day="($4::date + 1)")}
    from matching m where not exists (select 1 from today t where t.volunteer_id = m.volunteer_id)
    on conflict (volunteer_id, day) do update
        set opportunity_ids = alert_days.opportunity_ids || excluded.opportunity_ids
        where not ($1::text = any(alert_days.opportunity_ids))
    returning volunteer_id, notification_id, cardinality(opportunity_ids) as count
),
grown as (
    update outbox o set context = o.context || jsonb_build_object('count', d.count)
    from digest d where d.count > 1 and o.notification_id = d.notification_id
      and o.status = 'pending'
),
written as (
    insert into outbox (notification_id, cause_event_id, template, channel, volunteer_id,
        cause_time, context, cause_trace_id, next_attempt_at)
    select notification_id, $5::text, '{ALERT}', 'sms', volunteer_id, $6::timestamptz,
        jsonb_build_object('opportunity_id', $1::text, 'count', 1), $7::text,
        $8::timestamptz from today
    union all
    select notification_id, $5::text, '{ALERT}', 'sms', volunteer_id, $6::timestamptz,
        jsonb_build_object('opportunity_id', $1::text, 'count', 1, 'digest', true), $7::text,
        $9::timestamptz
    from digest where count = 1
    on conflict do nothing
)
select (select count(*) from today) as today, (select count(*) from digest) as digest
"""


@dataclass(frozen=True)
class Slot:
    """Where an alert enqueued now goes: its day, when it is due, when that day's digest is."""

    day: dt.date
    due: dt.datetime
    digest_due: dt.datetime


def alert_slot(now: dt.datetime, quiet: QuietHours | None, zone: Any) -> Slot:
    """The alert day of `now`: the local date it may go out on (after quiet hours) (pure)."""
    due = (quiet.release_time(now) if quiet is not None else None) or now
    day = due.astimezone(zone).date()
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return Slot(day, due, midnight.astimezone(dt.UTC))


def alert_cohort(data: dict[str, Any] | Any, zone: Any) -> tuple[str, int]:
    """(municipality, latest birth year) an opportunity matches (pure)."""
    starts = data.starts_at.astimezone(zone)
    return str(data.municipality), starts.year - int(data.min_age)


async def enqueue_alerts(
    conn: asyncpg.Connection,
    events: Sequence[Event[Any]],
    now: dt.datetime,
    max_age_hours: float,
    traces: Sequence[str | None],
    quiet: QuietHours | None,
    zone: Any,
) -> None:
    """Alerts for the batch's fresh publications (see the module docstring)."""
    for n, event in enumerate(events):
        if event.type != PUBLISHED or is_stale(event.time, now, max_age_hours):
            continue
        data = event.data
        if data.starts_at <= now:
            continue
        # Claimed first, whatever its state now: the claim is the same in any order.
        fresh = await conn.fetchval(CLAIM_OPPORTUNITY, data.opportunity_id, event.time)
        status = await conn.fetchval(
            "select status from opportunities where opportunity_id = $1", data.opportunity_id
        )
        if not fresh or status != "published":
            continue
        started = time.perf_counter()
        slot = alert_slot(now, quiet, zone)
        municipality, born_by = alert_cohort(data, zone)
        row = await conn.fetchrow(
            ALERT_SQL, data.opportunity_id, municipality, born_by, slot.day, event.id,
            event.time, traces[n], slot.due, slot.digest_due,
        )  # fmt: skip
        count = row["today"] + row["digest"]
        await conn.execute(
            "update alerted_opportunities set volunteers = $2 where opportunity_id = $1",
            data.opportunity_id, count,
        )  # fmt: skip
        log.info(
            "alerts_enqueued", opportunity_id=data.opportunity_id, today=row["today"],
            digest=row["digest"], duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )  # fmt: skip
