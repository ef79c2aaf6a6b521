"""Waiting-list promotions, derived where the notifier learns of them (no contract event).

The contract has no "promoted" fact: capacity is a number on the opportunity and the
campaigns read model counts `waitlisted` as the sign-ups beyond it. The notifier derives
who holds a place the same way, per opportunity: its current sign-ups in sign-up order
(`signup_time`, then the sign-up event id and the volunteer id, byte order), the first
`capacity` placed, the rest waiting. `seats` keeps what it last saw; a pair seen waiting
and now placed (someone withdrew, a release, a capacity raised by `opportunity.updated`)
gets one `waitlist_promoted` message (email and SMS). A pair seen for the first time is
recorded silently, as is a move back onto the list (a capacity lowered, an earlier
sign-up arriving late across topics); a withdrawn pair leaves `seats`.

Runs in the projector transaction after the batch's sign-ups were merged, for the
opportunities a fresh event of the batch touched (sign-up, withdrawal, publication,
update), in one statement. Opportunities not published (unknown capacity), cancelled or
already begun are left alone; an event older than the age rule promotes nobody (a first
start over an old log records the seats without messages).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from consumers.notifications.rules import PUBLISHED, UPDATED, is_stale, sql_notification_id
from consumers.notifications.schedule import PROMOTED
from consumers.participations import SIGNED_UP, SIGNUP_WITHDRAWN
from schemas.envelope import Event

TOUCHING = frozenset({SIGNED_UP, SIGNUP_WITHDRAWN, PUBLISHED, UPDATED})
_KEY = "'promotion ' || r.opportunity_id || ' ' || r.volunteer_id || ' ' || r.signup_event"
PROMOTE = f"""
with cause as (
    select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[])
        as c(opportunity_id, event_id, time, trace)
),
ranked as (
    select p.opportunity_id, p.volunteer_id, coalesce(p.signup_event, '') as signup_event,
        row_number() over (partition by p.opportunity_id order by p.signup_time,
            p.signup_event collate "C", p.volunteer_id collate "C") <= o.capacity as placed
    from participations p
    join opportunities o on o.opportunity_id = p.opportunity_id
    where p.opportunity_id = any($1::text[]) and p.signup_status = 'signed_up'
      and o.status = 'published' and o.capacity is not null and o.starts_at > now()
),
seen as (
    select r.*, r.placed and s.placed is false as promoted,
        coalesce(s.promotions, 0) + (r.placed and s.placed is false)::int as promotions
    from ranked r
    left join seats s on s.opportunity_id = r.opportunity_id and s.volunteer_id = r.volunteer_id
),
gone as (
    delete from seats s where s.opportunity_id = any($1::text[]) and not exists (
        select 1 from ranked r
        where r.opportunity_id = s.opportunity_id and r.volunteer_id = s.volunteer_id)
),
kept as (
    insert into seats (opportunity_id, volunteer_id, placed, promotions)
    select opportunity_id, volunteer_id, placed, promotions from seen
    on conflict (opportunity_id, volunteer_id) do update
        set placed = excluded.placed, promotions = excluded.promotions
        where seats.placed is distinct from excluded.placed
)
insert into outbox (notification_id, cause_event_id, template, channel, volunteer_id,
    cause_time, context, cause_trace_id)
select {sql_notification_id(_KEY + " || ' ' || r.promotions", "'" + PROMOTED + "'", "ch")},
    c.event_id, '{PROMOTED}', ch, r.volunteer_id, c.time,
    jsonb_build_object('opportunity_id', r.opportunity_id), c.trace
from seen r
join cause c on c.opportunity_id = r.opportunity_id
cross join unnest(array['email', 'sms']) as ch
where r.promoted and c.event_id is not null
on conflict do nothing
"""


async def enqueue_promotions(
    conn: asyncpg.Connection,
    events: Sequence[Event[Any]],
    now: dt.datetime,
    max_age_hours: float,
    traces: Sequence[str | None],
) -> None:
    """Update `seats` for the opportunities the batch touched; promote whom it placed."""
    causes: dict[str, tuple[str | None, dt.datetime, str | None]] = {}
    for n, event in enumerate(events):
        if event.type not in TOUCHING:
            continue
        opportunity_id = event.data.opportunity_id
        if is_stale(event.time, now, max_age_hours):
            causes.setdefault(opportunity_id, (None, event.time, None))  # seats only
        else:  # the latest fresh event touching it is the promotion's cause
            causes[opportunity_id] = (event.id, event.time, traces[n])
    if not causes:
        return
    ids = list(causes)
    await conn.execute(
        PROMOTE, ids, [causes[i][0] for i in ids], [causes[i][1] for i in ids],
        [causes[i][2] for i in ids],
    )  # fmt: skip
