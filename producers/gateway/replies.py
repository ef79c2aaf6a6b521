"""What a volunteer's reply or a provider's feedback does: platform facts and the holds.

The gateway is the platform's door for providers. It may write the canonical topics
(the notifier may not: its principal writes `tatawwu.notifications` only), so the facts
a reply states are published here, from `platform/replies`:

- STOP: `volunteer.consent_changed` with SMS off (the rest of the consent as it stands);
  a consent hold is written first, so that the notifier's sender counts SMS as refused
  at once, before its own projector has applied the event (an SMS already queued is
  suppressed). START: the hold goes and SMS consent comes back.
- YES / NO: the volunteer's latest attendance confirmation still awaiting an answer
  takes it; NO also publishes `volunteer.signup_withdrawn` (the place is released).
- A complaint: `volunteer.consent_changed` with email off, held the same way.

Volunteers are found by phone or email in the notifier's contacts (its schema,
`TATAWWU_WEBHOOK_NOTIFIER_SCHEMA`): the rows and columns the notifier's migration 0005
declares for this. Event ids derive from the provider's message id, so a provider
retrying after a failure publishes the same events again, which consumers deduplicate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from producers.gateway.keywords import Keyword
from schemas.common import Consent
from schemas.envelope import Event
from schemas.registry import new_event
from schemas.signups import VolunteerSignupWithdrawn
from schemas.volunteers import VolunteerConsentChanged

SOURCE = "platform/replies"
CONFIRMATION = "attendance_confirmation"


def quoted(schema: str) -> str:
    """A schema name as a SQL identifier."""
    return '"' + schema.replace('"', '""') + '"'


@dataclass
class Plan:
    """What a reply does: events to publish, then statements to run, and its outcome."""

    outcome: str
    volunteer_ids: list[str] = field(default_factory=list)
    events: list[Event[Any]] = field(default_factory=list)
    after: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)


async def volunteers_by(
    conn: asyncpg.Connection, schema: str, column: str, value: str
) -> list[str]:
    """The registered volunteers reachable at this phone number or email address."""
    assert column in ("phone", "email")
    where = "phone = $1" if column == "phone" else "lower(email) = lower($1)"
    rows = await conn.fetch(
        f"select volunteer_id from {quoted(schema)}.contacts where {where}"
        " and status = 'registered' order by volunteer_id",
        value,
    )
    return [r["volunteer_id"] for r in rows]


async def current_consent(
    conn: asyncpg.Connection, schema: str, volunteer_ids: list[str]
) -> dict[str, dict[str, bool]]:
    """Each volunteer's consent as it now stands: the contact's, with the holds applied."""
    s = quoted(schema)
    consent = {
        r["volunteer_id"]: json.loads(r["consent"]) if isinstance(r["consent"], str)
        else dict(r["consent"] or {})
        for r in await conn.fetch(
            f"select volunteer_id, consent from {s}.contacts where volunteer_id = any($1)",
            volunteer_ids,
        )
    }  # fmt: skip
    for r in await conn.fetch(
        f"select volunteer_id, channel from {s}.consent_holds where volunteer_id = any($1)",
        volunteer_ids,
    ):
        consent.setdefault(r["volunteer_id"], {})[r["channel"]] = False
    return {
        v: {"sms": bool(c.get("sms")), "email": bool(c.get("email"))} for v, c in consent.items()
    }


async def consent_change(
    conn: asyncpg.Connection, schema: str, volunteer_ids: list[str], channel: str, on: bool,
    event_id: str,
) -> tuple[list[Event[Any]], list[tuple[str, tuple[Any, ...]]]]:  # fmt: skip
    """The consent events for turning `channel` on or off, and the hold statements.

    Turning off writes the hold now (before publishing: honoured at once, and a failed
    publish leaves the channel refused, the safe side); turning on drops it after.
    """
    s = quoted(schema)
    consents = await current_consent(conn, schema, volunteer_ids)
    events, after = [], []
    for volunteer_id in volunteer_ids:
        consent = {**consents.get(volunteer_id, {"sms": False, "email": False}), channel: on}
        event = new_event(
            VolunteerConsentChanged(volunteer_id=volunteer_id, consent=Consent(**consent)),
            source=SOURCE, event_id=f"{event_id}.{volunteer_id}",
        )  # fmt: skip
        events.append(event)
        if on:
            after.append((f"delete from {s}.consent_holds where volunteer_id = $1 and channel = $2",
                          (volunteer_id, channel)))  # fmt: skip
        else:
            await conn.execute(
                f"insert into {s}.consent_holds (volunteer_id, channel, event_id, source)"
                " values ($1, $2, $3, $4) on conflict (volunteer_id, channel) do update"
                " set event_id = excluded.event_id, source = excluded.source, since = now()",
                volunteer_id, channel, event.id, SOURCE,
            )  # fmt: skip
    return events, after


async def answer_confirmation(
    conn: asyncpg.Connection, schema: str, volunteer_ids: list[str], keyword: Keyword,
    message_id: str,
) -> Plan:  # fmt: skip
    """YES or NO to the latest attendance confirmation of theirs still awaiting an answer."""
    s = quoted(schema)
    row = await conn.fetchrow(
        f"select o.notification_id, o.volunteer_id, o.context->>'opportunity_id' as opportunity_id,"
        f" coalesce(o.context->>'campaign_id', p.campaign_id) as campaign_id from {s}.outbox o"
        f" left join {s}.participations p on p.volunteer_id = o.volunteer_id"
        "  and p.opportunity_id = o.context->>'opportunity_id'"
        " where o.volunteer_id = any($1) and o.template = $2 and o.reply is null"
        "  and o.status = 'sent'"
        " order by o.created_at desc, o.notification_id desc limit 1",
        volunteer_ids, CONFIRMATION,
    )  # fmt: skip
    if row is None:
        return Plan("no_pending_confirmation", volunteer_ids)
    answer = "yes" if keyword == Keyword.YES else "no"
    plan = Plan(f"attendance_{answer}", [row["volunteer_id"]])
    plan.after.append((
        f"update {s}.outbox set reply = $2, replied_at = now()"
        " where notification_id = $1 and reply is null",
        (row["notification_id"], answer),
    ))  # fmt: skip
    if keyword == Keyword.NO:
        if not row["opportunity_id"] or not row["campaign_id"]:
            return Plan("confirmation_without_signup", volunteer_ids, after=plan.after)
        plan.events.append(new_event(
            VolunteerSignupWithdrawn(volunteer_id=row["volunteer_id"],
                                     opportunity_id=row["opportunity_id"],
                                     campaign_id=row["campaign_id"]),
            source=SOURCE, event_id=f"reply-{message_id}.withdrawn",
        ))  # fmt: skip
    return plan


async def plan_reply(
    conn: asyncpg.Connection, schema: str, phone: str, keyword: Keyword | None, message_id: str
) -> Plan:
    """What this reply does (the consent hold of a STOP is written already)."""
    volunteer_ids = await volunteers_by(conn, schema, "phone", phone)
    if keyword is None:
        return Plan("ignored", volunteer_ids)
    if not volunteer_ids:
        return Plan("unknown_sender")
    if keyword in (Keyword.STOP, Keyword.START):
        on = keyword == Keyword.START
        events, after = await consent_change(
            conn, schema, volunteer_ids, "sms", on, f"reply-{message_id}"
        )
        return Plan(f"sms_consent_{'on' if on else 'off'}", volunteer_ids, events, after)
    return await answer_confirmation(conn, schema, volunteer_ids, keyword, message_id)
