"""The I/O part of the campaigns read model: one batch, a few set-based statements."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from consumers import history, participations
from consumers.campaigns.rules import (
    CAMPAIGN_COLUMNS,
    CAMPAIGN_TYPES,
    OPPORTUNITY_COLUMNS,
    OPPORTUNITY_TYPES,
    fold_history,
)
from consumers.participations import (
    PARTICIPATION_TYPES,
    Prepared,
    UpsertBuilder,
    upsert_participations,
)
from consumers.runtime import Projector
from infra.migrations import Migrations
from schemas.envelope import Event
from schemas.topics import ATTENDANCE, CAMPAIGNS, SIGNUPS


def _aggregate_of(event: Event[Any]) -> tuple[str, str]:
    if event.type in CAMPAIGN_TYPES:
        return "campaign", event.data.campaign_id
    return "opportunity", event.data.opportunity_id


async def apply(
    conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Prepared | None = None
) -> None:
    """Apply a batch of fresh, handled events (the runtime has deduplicated them)."""
    entity_events = [e for e in events if e.type in CAMPAIGN_TYPES | OPPORTUNITY_TYPES]
    histories = await history.record_and_load(conn, entity_events, _aggregate_of)
    for aggregate, table, key, columns in (
        ("campaign", "campaigns", "campaign_id", CAMPAIGN_COLUMNS),
        ("opportunity", "opportunities", "opportunity_id", OPPORTUNITY_COLUMNS),
    ):
        await history.refold(conn, histories, aggregate, fold_history, table, key, columns)
    await upsert_participations(conn, events, prepared)


PROJECTOR = Projector(
    name="campaigns",
    topics=(CAMPAIGNS.name, SIGNUPS.name, ATTENDANCE.name),
    migrations=(
        history.MIGRATIONS,
        participations.MIGRATIONS,
        Migrations("campaigns", Path(__file__).with_name("sql")),
    ),
    apply=apply,
    precompute=UpsertBuilder,
    event_types=CAMPAIGN_TYPES | OPPORTUNITY_TYPES | PARTICIPATION_TYPES,
)
