"""The `volunteers` read model: a directory of volunteers with their activity totals.

Profile rules: the row is the volunteer's registration, then profile updates and
consent changes folded in (time, id) order (`consumers.history`). A profile update
changes only the fields it carries; a name change replaces the whole name (a missing
family name means none). Totals come from the volunteer's participations (rules in
`consumers.participations`): sign-ups (pairs currently signed up), attended (checked
in or verified), verified hours, no-shows, first and last activity time.
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
from schemas.topics import ATTENDANCE, SIGNUPS, VOLUNTEERS

PROFILE_TYPES = frozenset(
    {"volunteer.registered", "volunteer.profile_updated", "volunteer.consent_changed"}
)
PROFILE_COLUMNS = {
    "given_name": "text", "family_name": "text", "phone": "text", "email": "text",
    "language": "text", "birth_year": "int", "gender": "text", "nationality_group": "text",
    "municipality": "text", "consent": "jsonb", "registered_at": "timestamptz",
    "status": "text",
}  # fmt: skip


def fold_profile(events: History) -> dict[str, Any]:
    """The volunteer's profile from its history, in (time, id) order."""
    row: dict[str, Any] = {"status": "unregistered"}
    for time, _id, event_type, data in ordered(events):
        match event_type:
            case "volunteer.registered":
                row.update(data)
                row["family_name"] = data.get("family_name")
                row["registered_at"] = time.isoformat()
                row["status"] = "registered"
            case "volunteer.profile_updated":
                changes = {k: v for k, v in data.items() if k != "volunteer_id"}
                if "given_name" in changes:
                    changes.setdefault("family_name", None)
                row.update(changes)
            case "volunteer.consent_changed":
                row["consent"] = data["consent"]
    row.pop("volunteer_id", None)
    return row


async def apply_profiles(conn: asyncpg.Connection, events: Sequence[Event[Any]]) -> None:
    """Store profile events and refold every touched volunteer's row."""
    profile_events = [e for e in events if e.type in PROFILE_TYPES]
    histories = await history.record_and_load(
        conn, profile_events, lambda e: ("volunteer", e.data.volunteer_id)
    )
    await history.refold(
        conn, histories, "volunteer", fold_profile, "volunteers", "volunteer_id", PROFILE_COLUMNS
    )


async def apply(
    conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Prepared | None = None
) -> None:
    """Apply a batch of fresh events: profiles refolded, participations merged."""
    await apply_profiles(conn, events)
    await upsert_participations(conn, events, prepared)


PROJECTOR = Projector(
    name="volunteers",
    topics=(VOLUNTEERS.name, SIGNUPS.name, ATTENDANCE.name),
    migrations=(
        history.MIGRATIONS,
        participations.MIGRATIONS,
        Migrations("volunteers", Path(__file__).with_name("sql")),
    ),
    apply=apply,
    precompute=UpsertBuilder,
    event_types=PROFILE_TYPES | PARTICIPATION_TYPES,
)
