"""The pure part of the participation read model: who counts, and the population they count in.

A volunteer is *active* at an as-of instant when one of their attended pairs (checked
in, or verified hours; see `consumers.participations`) has its activity time in the
trailing 12 months (as_of - 365 days, as_of]. The participation rate is active
volunteers divided by the eligible population (`infra/population.csv`), nationally and
by municipality, gender, age band (age = as-of year - birth year) and nationality
group, taken from the volunteer's latest profile. Only verified hours count; their
economic value is hours x a configurable hourly rate. The document is built in `kpi.py`
from the projection (`coverage.py`, `maintain.py`, `lookup.py`) or, for reference, from
scans of the `activity` view (`scan.py`).
"""

from __future__ import annotations

from typing import Any

from consumers.history import History
from consumers.volunteers.rules import fold_profile

DEMOGRAPHICS = {
    "birth_year": "int", "gender": "text", "nationality_group": "text", "municipality": "text",
}  # fmt: skip


def fold_demographics(events: History) -> dict[str, Any]:
    """Only what the breakdowns need from the volunteer's profile (no names or contacts)."""
    profile = fold_profile(events)
    return {k: profile.get(k) for k in DEMOGRAPHICS}
