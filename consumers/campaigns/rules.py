"""The pure part of the campaigns read model: campaign and opportunity rows from history.

A campaign or opportunity row is its history folded in (time, id) order (see
`consumers.history`): launched / published set every field, updated changes the
fields it names (`opportunity.updated` too: time, place, capacity), closed sets the status (closed, or cancelled when that is the
reason), cancelled cancels an opportunity. A campaign belongs to the organisation of
its earliest launch: a later launch does not move it (the organizations read model
credits the same one). Participation rules live in
`consumers.participations`; the statistics are views over both (sql/).
"""

from __future__ import annotations

from typing import Any

from consumers.history import History, ordered
from schemas.campaigns import (
    CampaignClosed,
    CampaignLaunched,
    CampaignUpdated,
    OpportunityCancelled,
    OpportunityPublished,
    OpportunityUpdated,
)
from schemas.registry import type_of, types_of

LAUNCHED = type_of(CampaignLaunched)
UPDATED = type_of(CampaignUpdated)
CLOSED = type_of(CampaignClosed)
PUBLISHED = type_of(OpportunityPublished)
CANCELLED = type_of(OpportunityCancelled)
OPPORTUNITY_UPDATED = type_of(OpportunityUpdated)
CAMPAIGN_TYPES = types_of(CampaignLaunched, CampaignUpdated, CampaignClosed)
OPPORTUNITY_TYPES = types_of(OpportunityPublished, OpportunityCancelled, OpportunityUpdated)
CAMPAIGN_COLUMNS = {
    "org_id": "text", "title_ar": "text", "title_en": "text", "kind": "text",
    "municipality": "text", "starts_on": "date", "ends_on": "date",
    "target_volunteers": "int", "target_hours": "int", "status": "text",
}  # fmt: skip
OPPORTUNITY_COLUMNS = {
    "campaign_id": "text", "title_ar": "text", "title_en": "text", "starts_at": "timestamptz",
    "ends_at": "timestamptz", "capacity": "int", "municipality": "text", "min_age": "int",
    "status": "text",
}  # fmt: skip


def fold_history(history: History) -> dict[str, Any]:
    """A campaign or opportunity row from its (time, id, type, data) history, in any order."""
    row: dict[str, Any] = {"status": "unknown"}
    for _time, _id, event_type, data in ordered(history):
        if event_type in (LAUNCHED, PUBLISHED):
            owner = row.get("org_id")
            row.update(data)
            if owner is not None:
                row["org_id"] = owner
            if row["status"] == "unknown":
                row["status"] = "active"
        elif event_type in (UPDATED, OPPORTUNITY_UPDATED):
            row.update({k: v for k, v in data.items() if v is not None})
        elif event_type == CLOSED:
            row["status"] = "cancelled" if data.get("reason") == "cancelled" else "closed"
        elif event_type == CANCELLED:
            row["status"] = "cancelled"
    return row
