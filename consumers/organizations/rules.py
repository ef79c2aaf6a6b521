"""The pure part of the organizations read model: organisations and who owns each campaign.

An organisation's row is its registration and suspensions folded in (time, id) order;
accreditation status is `active` until an `organization.suspended`. A campaign belongs
to the organisation named in its earliest `campaign.launched` by (time, id, source), in
byte order, whatever order launches arrive in (the campaigns read model agrees).
Per organisation: campaigns launched, distinct volunteers engaged (an attended pair —
checked in or verified — in one of its campaigns), verified hours. Per sector: the
same, with volunteers distinct across the sector (views in sql/).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from consumers.history import History, ordered
from schemas.campaigns import CampaignLaunched
from schemas.envelope import Event
from schemas.organizations import OrganizationRegistered, OrganizationSuspended
from schemas.registry import type_of, types_of

REGISTERED = type_of(OrganizationRegistered)
SUSPENDED = type_of(OrganizationSuspended)
ORG_TYPES = types_of(OrganizationRegistered, OrganizationSuspended)
LAUNCHED = type_of(CampaignLaunched)
OWNER_TYPES = frozenset({LAUNCHED})  # what decides a campaign's organisation
Launch = tuple[dt.datetime, str, str, str]  # (event time, event id, source, org id)
ORG_COLUMNS = {
    "name_ar": "text", "name_en": "text", "sector": "text", "status": "text",
    "registered_at": "timestamptz",
}  # fmt: skip


def fold_organization(events: History) -> dict[str, Any]:
    """The organisation's row from its history, in (time, id) order."""
    row: dict[str, Any] = {"status": "unregistered"}
    for time, _id, event_type, data in ordered(events):
        if event_type == REGISTERED:
            row.update({k: v for k, v in data.items() if k != "org_id"})
            row["registered_at"] = time.isoformat()
            if row["status"] == "unregistered":
                row["status"] = "active"
        elif event_type == SUSPENDED:
            row["status"] = "suspended"
    return row


def earliest_launches(events: Iterable[Event[Any]]) -> dict[str, Launch]:
    """Per campaign, the earliest of these launches by (time, id, source): who owns it."""
    earliest: dict[str, Launch] = {}
    for e in events:
        if e.type == LAUNCHED:
            launch = (e.time, e.id, e.source, e.data.org_id)
            earliest[e.data.campaign_id] = min(earliest.get(e.data.campaign_id, launch), launch)
    return earliest
