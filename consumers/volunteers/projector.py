"""The `volunteers` read model, declared: profiles refolded, participations merged."""

from __future__ import annotations

from pathlib import Path

from consumers.parts import Entity, participations, read_model, refold
from consumers.volunteers.rules import PROFILE_COLUMNS, PROFILE_TYPES, fold_profile

VOLUNTEER = Entity("volunteer", PROFILE_TYPES, fold_profile, "volunteers", PROFILE_COLUMNS)

PROJECTOR = read_model(
    "volunteers",
    refold(VOLUNTEER),
    participations(),
    sql=Path(__file__).with_name("sql"),
)
