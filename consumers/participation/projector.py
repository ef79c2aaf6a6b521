"""The `participation` read model, declared: demographics refolded, participations merged."""

from __future__ import annotations

import csv
from pathlib import Path

import asyncpg

from consumers.participation.rules import DEMOGRAPHICS, fold_demographics
from consumers.parts import Entity, participations, read_model, refold
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


PROJECTOR = read_model(
    "participation",
    refold(DEMOGRAPHIC),
    participations(),
    sql=Path(__file__).with_name("sql"),
    prepare=load_population,
)
