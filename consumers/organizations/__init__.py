"""The `organizations` read model: partner organisations and sectors, and what they achieved.

Rules: an organisation's row is its registration and suspensions folded in (time, id)
order; accreditation status is `active` until an `organization.suspended`. A campaign
belongs to the organisation named in its earliest `campaign.launched` by (time, id,
source), in byte order, whatever order launches arrive in (the campaigns read model
agrees).
Per organisation: campaigns launched, distinct volunteers engaged (an attended pair —
checked in or verified — in one of its campaigns), verified hours. Per sector: the
same, with volunteers distinct across the sector (views in sql/).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncpg

from consumers import history, participations
from consumers.history import History, ordered
from consumers.participations import (
    PARTICIPATION_TYPES,
    Prepared,
    UpsertBuilder,
    upsert_participations,
)
from consumers.runtime import Projector
from infra.migrations import Migrations
from schemas.envelope import Event
from schemas.topics import ATTENDANCE, CAMPAIGNS, ORGANIZATIONS, SIGNUPS

ORG_TYPES = frozenset({"organization.registered", "organization.suspended"})
Launch = tuple[dt.datetime, str, str, str]  # (event time, event id, source, org id)
ORG_COLUMNS = {
    "name_ar": "text", "name_en": "text", "sector": "text", "status": "text",
    "registered_at": "timestamptz",
}  # fmt: skip


def fold_organization(events: History) -> dict[str, Any]:
    """The organisation's row from its history, in (time, id) order."""
    row: dict[str, Any] = {"status": "unregistered"}
    for time, _id, event_type, data in ordered(events):
        if event_type == "organization.registered":
            row.update({k: v for k, v in data.items() if k != "org_id"})
            row["registered_at"] = time.isoformat()
            if row["status"] == "unregistered":
                row["status"] = "active"
        elif event_type == "organization.suspended":
            row["status"] = "suspended"
    return row


def earliest_launches(events: Iterable[Event[Any]]) -> dict[str, Launch]:
    """Per campaign, the earliest of these launches by (time, id, source): who owns it."""
    earliest: dict[str, Launch] = {}
    for e in events:
        if e.type == "campaign.launched":
            launch = (e.time, e.id, e.source, e.data.org_id)
            earliest[e.data.campaign_id] = min(earliest.get(e.data.campaign_id, launch), launch)
    return earliest


# A launch replaces the stored owner only when it is earlier by (time, id, source), in
# byte order as in Python; a row without a stamp (written before 0002) gives way to any.
RECORD_OWNERS = """
insert into org_campaigns as c (campaign_id, org_id, launched_time, launched_event,
    launched_source)
select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[])
on conflict (campaign_id) do update set
    org_id = excluded.org_id,
    launched_time = excluded.launched_time,
    launched_event = excluded.launched_event,
    launched_source = excluded.launched_source
where c.launched_time is null
   or (excluded.launched_time, excluded.launched_event collate "C",
       excluded.launched_source collate "C")
      < (c.launched_time, c.launched_event collate "C", coalesce(c.launched_source, '') collate "C")
"""


async def apply(
    conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Prepared | None = None
) -> None:
    """Organisations refolded, campaign ownership recorded, participations merged."""
    org_events = [e for e in events if e.type in ORG_TYPES]
    histories = await history.record_and_load(conn, org_events, lambda e: ("org", e.data.org_id))
    await history.refold(
        conn, histories, "org", fold_organization, "organizations", "org_id", ORG_COLUMNS
    )
    if launches := earliest_launches(events):
        campaigns = list(launches)
        await conn.execute(
            RECORD_OWNERS,
            campaigns,
            [launches[c][3] for c in campaigns],
            [launches[c][0] for c in campaigns],
            [launches[c][1] for c in campaigns],
            [launches[c][2] for c in campaigns],
        )
    await upsert_participations(conn, events, prepared)


PROJECTOR = Projector(
    name="organizations",
    topics=(ORGANIZATIONS.name, CAMPAIGNS.name, SIGNUPS.name, ATTENDANCE.name),
    migrations=(
        history.MIGRATIONS,
        participations.MIGRATIONS,
        Migrations("organizations", Path(__file__).with_name("sql")),
    ),
    apply=apply,
    precompute=UpsertBuilder,
    event_types=ORG_TYPES | {"campaign.launched"} | PARTICIPATION_TYPES,
)
