"""`opportunity.updated`: tell each signed-up volunteer once, and re-time their pending messages.

Enqueued in the notifier's projector transaction (with the consumed offsets), after the
opportunity was refolded and the batch's sign-ups merged:

- One `opportunity_changed` message (email and SMS) per volunteer signed up at that
  moment, when the update changes the time, the place or the capacity (an update of
  `auto_release` alone tells nobody). Its id is derived from the update's identity and
  the volunteer, so the same event delivered or replayed twice maps onto the same rows
  (and the runtime drops a repeated event before it gets here). The context keeps what
  changed (`variables.describe_changes` words it). Not for an opportunity already begun,
  cancelled or not published yet, nor for an update older than the age rule.
- Every pending message about the opportunity (reminders, the attendance confirmation, a
  promotion) is made due now: the sender looks at it again against the new time and
  holds it until its new window (rescheduled) or suppresses it (`too_late`: cancelled).
  One set-based statement each, whatever the number of volunteers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from consumers.notifications.rules import UPDATED, is_stale, sql_notification_id
from consumers.notifications.schedule import CHANGED, SCHEDULED
from consumers.runtime import identity
from schemas.envelope import Event

TOLD = ("starts_at", "ends_at", "municipality", "capacity")
INSERT_CHANGED = f"""
insert into outbox (notification_id, cause_event_id, template, channel, volunteer_id,
    cause_time, context, cause_trace_id)
select {sql_notification_id("$1 || ' ' || p.volunteer_id", "'" + CHANGED + "'", "ch")},
    $2, '{CHANGED}', ch, p.volunteer_id, $3, $4::jsonb, $5
from participations p
join opportunities o on o.opportunity_id = p.opportunity_id
cross join unnest(array['email', 'sms']) as ch
where p.opportunity_id = $6 and p.signup_status = 'signed_up'
  and o.status = 'published' and o.starts_at > now()
on conflict do nothing
"""
# The templates written out (not a parameter) so the partial index of migration 0006,
# over the same list, serves the statement.
RETIME = (
    "update outbox set next_attempt_at = now() where status in ('pending', 'sending')"
    " and status = 'pending' and context ->> 'opportunity_id' = $1 and template in ("
    + ", ".join(f"'{t}'" for t in sorted(SCHEDULED))
    + ") and next_attempt_at > now()"
)


def told_changes(data: Any) -> dict[str, Any]:
    """The fields of an update worth telling volunteers (JSON-ready), absent ones left out."""
    changes: dict[str, Any] = {}
    for field in TOLD:
        value = getattr(data, field, None)
        if value is not None:
            changes[field] = value.isoformat() if isinstance(value, dt.datetime) else str(value)
    return changes


async def enqueue_changes(
    conn: asyncpg.Connection,
    events: Sequence[Event[Any]],
    now: dt.datetime,
    max_age_hours: float,
    traces: Sequence[str | None],
) -> int:
    """Messages for the batch's opportunity updates; returns the updates that told anyone."""
    told = 0
    for n, event in enumerate(events):
        if event.type != UPDATED or is_stale(event.time, now, max_age_hours):
            continue
        data = event.data
        changes = told_changes(data)
        if data.starts_at is not None or data.ends_at is not None:
            await conn.execute(RETIME, data.opportunity_id)
        if not changes:
            continue
        context = {"opportunity_id": data.opportunity_id, "changes": changes}
        done = await conn.execute(
            INSERT_CHANGED, identity(event), event.id, event.time,
            context, traces[n], data.opportunity_id,
        )  # fmt: skip
        told += done != "INSERT 0 0"
    return told
