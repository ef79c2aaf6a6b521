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

Whatever order the facts arrive in (Kafka orders partitions, not topics): a volunteer
is alerted of an opportunity when their alerts consent was on at its publication's time
(in event time: `contacts.alerts_on`, the consent's history, migration 0008). A
publication applied first matches only the volunteers already known; one whose
registration, consent or profile arrives later is alerted then (`late_alerts`) of the
fresh opportunities they match and were not alerted of, in that day's alert or the next
day's digest like any other.

Efficient at broadcast size: one set-based statement per published opportunity matches
the volunteers, claims their day (`alert_days`, insert ... on conflict), writes or grows
their digests and inserts the ledger rows (ids computed in SQL), however many volunteers
match: no row-at-a-time round trips. It runs in the projector transaction; an opportunity
alerts each volunteer once (`alert_days` holds what they were alerted of), is claimed
once at its earliest publication's time (`alerted_opportunities`), and alerts nobody when
the publication is older than the age rule, already begun or cancelled.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import structlog

from consumers.history import ERASED
from consumers.notifications.rules import PUBLISHED, QuietHours, is_stale, sql_notification_id
from consumers.notifications.schedule import ALERT
from consumers.volunteers.rules import PROFILE_TYPES
from schemas.envelope import Event

log = structlog.get_logger(__name__)
_ID = sql_notification_id("'alert ' || {who} || ' ' || {day}::text", f"'{ALERT}'", "'sms'")
CLAIM_OPPORTUNITY = (  # a row when the claim is new or moved back to an earlier time:
    # alerted_at is the earliest publication's time whatever order republications arrive in
    "insert into alerted_opportunities (opportunity_id, alerted_at, volunteers) values ($1, $2, 0)"
    " on conflict (opportunity_id) do update set alerted_at = excluded.alerted_at"
    " where excluded.alerted_at < alerted_opportunities.alerted_at"
    " returning xmax = 0"
)
ALERT_SQL = f"""
with matching as (
    select volunteer_id from contacts
    where status = 'registered' and (consent ->> 'alerts') = 'true'
      and municipality = $2 and birth_year <= $3 and alerts_on @> $10::timestamptz
      and ($11::text[] is null or volunteer_id = any($11::text[]))
      and not exists (select 1 from alert_days d  -- alerted of it already (republished)
          where d.volunteer_id = contacts.volunteer_id and $1::text = any(d.opportunity_ids))
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
        # Claimed first, whatever its state now: the claim is the same in any order. A
        # republication timed earlier than the one claimed moves the claim back and alerts
        # those whose consent was on by then (no one twice: ALERT_SQL skips the alerted).
        claimed = await conn.fetchval(CLAIM_OPPORTUNITY, data.opportunity_id, event.time)
        status = await conn.fetchval(
            "select status from opportunities where opportunity_id = $1", data.opportunity_id
        )
        if claimed is None or status != "published":
            continue
        municipality, born_by = alert_cohort(data, zone)
        cause = Cause(event.id, event.time, traces[n])
        await _alert(conn, data.opportunity_id, municipality, born_by, event.time,
                     alert_slot(now, quiet, zone), cause)  # fmt: skip


@dataclass(frozen=True)
class Cause:
    """The event a ledger row names as its cause (id, time, the trace its record carried)."""

    event_id: str
    time: dt.datetime
    trace: str | None


async def _alert(
    conn: asyncpg.Connection,
    opportunity_id: str,
    municipality: str,
    born_by: int,
    published_at: dt.datetime,
    slot: Slot,
    cause: Cause,
    volunteers: list[str] | None = None,
) -> None:
    """One opportunity alerted to its matching volunteers (of `volunteers` only, if given)."""
    started = time.perf_counter()
    row = await conn.fetchrow(
        ALERT_SQL, opportunity_id, municipality, born_by, slot.day, cause.event_id,
        cause.time, cause.trace, slot.due, slot.digest_due, published_at, volunteers,
    )  # fmt: skip
    count = row["today"] + row["digest"]
    await conn.execute(
        "update alerted_opportunities set volunteers = volunteers + $2 where opportunity_id = $1",
        opportunity_id, count,
    )  # fmt: skip
    if volunteers is None or count:
        log.info(
            "alerts_enqueued", opportunity_id=opportunity_id, today=row["today"],
            digest=row["digest"], late=volunteers is not None,
            duration_ms=round((time.perf_counter() - started) * 1000, 1),
        )  # fmt: skip


# The fresh opportunities a volunteer now matches, whose publication found their alerts
# consent on (in event time), and which they were not alerted of: the late alerts.
LATE_SQL = """
select c.volunteer_id, o.opportunity_id, o.municipality, a.alerted_at, b.born_by
from alerted_opportunities a
join opportunities o using (opportunity_id)
cross join lateral (select extract(year from o.starts_at at time zone $4)::int
                           - coalesce(o.min_age, 0) as born_by) b
join contacts c on c.municipality = o.municipality and c.alerts_on @> a.alerted_at
where a.alerted_at >= $3 and o.status = 'published' and o.starts_at > $2
  and c.volunteer_id = any($1::text[]) and c.status = 'registered'
  and (c.consent ->> 'alerts') = 'true'
  and c.birth_year <= b.born_by
  and not exists (select 1 from alert_days d
      where d.volunteer_id = c.volunteer_id and o.opportunity_id = any(d.opportunity_ids))
order by c.volunteer_id, a.alerted_at, o.opportunity_id
"""


async def late_alerts(
    conn: asyncpg.Connection,
    events: Sequence[Event[Any]],
    now: dt.datetime,
    max_age_hours: float,
    traces: Sequence[str | None],
    quiet: QuietHours | None,
    zone: Any,
) -> None:
    """Alerts for volunteers known (or opted in, or come to match) after a publication they
    precede in event time: their registration, consent or profile arrived later (Kafka
    orders each topic's partitions, not the topics between them). Runs after the batch's
    own publications, so a volunteer alerted by one of them is not alerted again; each
    late alert takes the day's alert or the next day's digest like any other."""
    causes: dict[str, Cause] = {}
    for n, event in enumerate(events):
        if event.type in PROFILE_TYPES and event.type != ERASED:
            causes[event.subject] = Cause(event.id, event.time, traces[n])
    if not causes:
        return
    since = now - dt.timedelta(hours=max_age_hours)
    rows = await conn.fetch(LATE_SQL, list(causes), now, since, str(zone))
    slot = alert_slot(now, quiet, zone) if rows else None
    for r in rows:
        assert slot is not None
        await _alert(conn, r["opportunity_id"], r["municipality"], r["born_by"],
                     r["alerted_at"], slot, causes[r["volunteer_id"]], [r["volunteer_id"]])  # fmt: skip
