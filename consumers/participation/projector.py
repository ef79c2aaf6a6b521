"""The `participation` read model, declared: demographics refolded, participations merged
with the KPI projection kept alongside (`maintain.py`)."""

from __future__ import annotations

import csv
from pathlib import Path

import asyncpg

from consumers.participation.maintain import backfill, participations_with_kpi
from consumers.participation.rules import DEMOGRAPHICS, fold_demographics
from consumers.parts import Entity, read_model, refold
from consumers.volunteers.rules import PROFILE_TYPES
from infra.settings import PROJECT_ROOT

POPULATION_CSV = PROJECT_ROOT / "infra" / "population.csv"

DEMOGRAPHIC = Entity(
    "volunteer", PROFILE_TYPES, fold_demographics, "volunteer_profiles", DEMOGRAPHICS
)


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


async def prepare(conn: asyncpg.Connection) -> None:
    """At start-up: the population, and the KPI projection if the schema predates it."""
    await load_population(conn)
    await backfill(conn)


PROJECTOR = read_model(
    "participation",
    refold(DEMOGRAPHIC),
    participations_with_kpi(),
    sql=Path(__file__).with_name("sql"),
    prepare=prepare,
)
