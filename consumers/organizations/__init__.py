"""The `organizations` read model: partner organisations and sectors, and what they achieved.

Rules: an organisation's row is its registration and suspensions folded in (time, id)
order; accreditation status is `active` until an `organization.suspended`. A campaign
belongs to the organisation named in its `campaign.launched`. Per organisation:
campaigns launched, distinct volunteers engaged (an attended pair — checked in or
verified — in one of its campaigns), verified hours. Per sector: the same, with
volunteers distinct across the sector (views in sql/).
"""

from __future__ import annotations

from collections.abc import Sequence
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


async def apply(
    conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Prepared | None = None
) -> None:
    """Organisations refolded, campaign ownership recorded, participations merged."""
    org_events = [e for e in events if e.type in ORG_TYPES]
    histories = await history.record_and_load(conn, org_events, lambda e: ("org", e.data.org_id))
    await history.refold(
        conn, histories, "org", fold_organization, "organizations", "org_id", ORG_COLUMNS
    )
    launched = [
        (e.data.campaign_id, e.data.org_id) for e in events if e.type == "campaign.launched"
    ]
    if launched:
        await conn.executemany(
            "insert into org_campaigns (campaign_id, org_id) values ($1, $2)"
            " on conflict (campaign_id) do update set org_id = excluded.org_id",
            launched,
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
