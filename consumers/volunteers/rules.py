"""The pure part of the volunteers read model: a volunteer's profile from its history.

The row is the volunteer's registration, then profile updates and consent changes folded
in (time, id) order (`consumers.history`). A profile update changes only the fields it
carries; a name change replaces the whole name (a missing family name means none).
Totals come from the volunteer's participations (rules in `consumers.participations`):
sign-ups (pairs currently signed up), attended (checked in or verified), verified hours,
no-shows, first and last activity time (views in sql/).
"""

from __future__ import annotations

from typing import Any

from consumers.history import ERASED, PERSONAL, History, ordered
from schemas.registry import type_of, types_of
from schemas.volunteers import (
    VolunteerConsentChanged,
    VolunteerErased,
    VolunteerProfileUpdated,
    VolunteerRegistered,
)

REGISTERED = type_of(VolunteerRegistered)
PROFILE_UPDATED = type_of(VolunteerProfileUpdated)
CONSENT_CHANGED = type_of(VolunteerConsentChanged)
PROFILE_TYPES = types_of(
    VolunteerRegistered, VolunteerProfileUpdated, VolunteerConsentChanged, VolunteerErased
)
PROFILE_COLUMNS = {
    "given_name": "text", "family_name": "text", "phone": "text", "email": "text",
    "language": "text", "birth_year": "int", "gender": "text", "nationality_group": "text",
    "municipality": "text", "consent": "jsonb", "registered_at": "timestamptz",
    "status": "text",
}  # fmt: skip


def fold_profile(events: History) -> dict[str, Any]:
    """The volunteer's profile from its history, in (time, id) order.

    Erased (`volunteer.erased`, whenever it came): every personal field is None and the
    status `erased`; so is a field that could not be opened (its key was destroyed: the
    decoded value is still an encrypted-field object), whatever the order of arrival.
    """
    row: dict[str, Any] = {"status": "unregistered"}
    erased = False
    for time, _id, event_type, data in ordered(events):
        if event_type == REGISTERED:
            row.update(data)
            row["family_name"] = data.get("family_name")
            row["registered_at"] = time.isoformat()
            row["status"] = "registered"
        elif event_type == PROFILE_UPDATED:
            changes = {k: v for k, v in data.items() if k != "volunteer_id"}
            if "given_name" in changes:
                changes.setdefault("family_name", None)
            row.update(changes)
        elif event_type == CONSENT_CHANGED:
            row["consent"] = data["consent"]
        elif event_type == ERASED:
            erased = True
    row.pop("volunteer_id", None)
    for field in PERSONAL & row.keys():
        if erased or isinstance(row[field], dict):
            row[field] = None
    if erased:
        row["status"] = "erased"
    return row
