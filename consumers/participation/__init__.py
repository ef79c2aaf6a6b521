"""The `participation` read model: the national 10%-by-2030 KPI and its breakdowns.

Rules: a volunteer is *active* at an as-of instant when one of their attended pairs
(checked in, or verified hours; see `consumers.participations`) has its activity time
in the trailing 12 months (as_of - 365 days, as_of]. The participation rate is active
volunteers divided by the eligible population (`infra/population.csv`), nationally and
by municipality, gender, age band (age = as-of year - birth year) and nationality
group, taken from the volunteer's latest profile. Only verified hours count; their
economic value is hours x a configurable hourly rate. The queries are in `kpi.py`.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from consumers import history, participations
from consumers.history import History
from consumers.participations import (
    PARTICIPATION_TYPES,
    Prepared,
    UpsertBuilder,
    upsert_participations,
)
from consumers.runtime import Projector
from consumers.volunteers import PROFILE_TYPES, fold_profile
from infra.migrations import Migrations
from infra.settings import PROJECT_ROOT
from schemas.envelope import Event
from schemas.topics import ATTENDANCE, SIGNUPS, VOLUNTEERS

POPULATION_CSV = PROJECT_ROOT / "infra" / "population.csv"
DEMOGRAPHICS = {
    "birth_year": "int", "gender": "text", "nationality_group": "text", "municipality": "text",
}  # fmt: skip


def fold_demographics(events: History) -> dict[str, Any]:
    """Only what the breakdowns need from the volunteer's profile (no names or contacts)."""
    profile = fold_profile(events)
    return {k: profile.get(k) for k in DEMOGRAPHICS}


async def apply(
    conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Prepared | None = None
) -> None:
    """Demographics refolded per touched volunteer; participations merged."""
    profile_events = [e for e in events if e.type in PROFILE_TYPES]
    histories = await history.record_and_load(
        conn, profile_events, lambda e: ("volunteer", e.data.volunteer_id)
    )
    await history.refold(
        conn, histories, "volunteer", fold_demographics, "volunteer_profiles", "volunteer_id",
        DEMOGRAPHICS,
    )  # fmt: skip
    await upsert_participations(conn, events, prepared)


def read_population(path: Path = POPULATION_CSV) -> list[tuple[str, str, str, str, int]]:
    """The population rows of the CSV (comment lines start with #)."""
    with path.open(newline="") as handle:
        lines = (line for line in handle if not line.startswith("#"))
        return [
            (r["municipality"], r["gender"], r["age_band"], r["nationality_group"],
             int(r["population"]))
            for r in csv.DictReader(lines)
        ]  # fmt: skip


async def load_population(conn: asyncpg.Connection) -> None:
    """Replace the population table with the CSV's figures (in the caller's transaction)."""
    rows = read_population()
    async with conn.transaction():
        await conn.execute("delete from population")
        await conn.copy_records_to_table("population", records=rows)


PROJECTOR = Projector(
    name="participation",
    topics=(VOLUNTEERS.name, SIGNUPS.name, ATTENDANCE.name),
    migrations=(
        history.MIGRATIONS,
        participations.MIGRATIONS,
        Migrations("participation", Path(__file__).with_name("sql")),
    ),
    apply=apply,
    precompute=UpsertBuilder,
    event_types=PROFILE_TYPES | PARTICIPATION_TYPES,
    prepare=load_population,
)
