"""The `campaigns` read model, declared: campaigns and opportunities refolded, participations."""

from __future__ import annotations

from pathlib import Path

from consumers.campaigns.rules import (
    CAMPAIGN_COLUMNS,
    CAMPAIGN_TYPES,
    OPPORTUNITY_COLUMNS,
    OPPORTUNITY_TYPES,
    fold_history,
)
from consumers.parts import Entity, participations, read_model, refold

CAMPAIGN = Entity("campaign", CAMPAIGN_TYPES, fold_history, "campaigns", CAMPAIGN_COLUMNS)
OPPORTUNITY = Entity(
    "opportunity", OPPORTUNITY_TYPES, fold_history, "opportunities", OPPORTUNITY_COLUMNS
)

PROJECTOR = read_model(
    "campaigns",
    refold(CAMPAIGN, OPPORTUNITY),
    participations(),
    sql=Path(__file__).with_name("sql"),
)
