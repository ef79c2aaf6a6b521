"""A small purpose-built participation world for the differencing attacks (real PostgreSQL).

Rows go straight into a participation schema made by the projector's own migrations, so
each test knows every volunteer: four municipalities, one of them (al_shamal) small, and
one volunteer `p` whose first activity is on day D+1 (`D` = the day before yesterday in
Qatar, so both days are complete).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from consumers.api.app import create_app
from consumers.participation import PROJECTOR
from consumers.participation.maintain import refresh
from consumers.runtime.bookkeeping import prepare_schema
from infra.db import connect
from infra.settings import Settings
from tests.integration.api.conftest import serve

QATAR = ZoneInfo("Asia/Qatar")
K = 10
# municipality -> (female, male); al_shamal is below k, p (female) joins it on D+1.
PEOPLE = {"doha": (25, 15), "al_rayyan": (12, 18), "al_wakrah": (12, 12), "al_shamal": (1, 2)}


@dataclass
class Tiny:
    """The world: its schema, its days and a way to add activity."""

    settings: Settings
    schema: str
    day: dt.date  # D

    def at(self, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=QATAR)

    async def add(
        self, volunteer: str, profile: tuple[str, str, int, str], when: dt.datetime
    ) -> None:
        """A volunteer with a profile, checked in once at `when` (the KPI projection
        refreshed for them, as the projector would have)."""
        conn = await connect(self.settings)
        try:
            await conn.execute(
                f'insert into "{self.schema}".volunteer_profiles values ($1, $2, $3, $4, $5)'
                " on conflict do nothing",
                volunteer, profile[2], profile[1], profile[3], profile[0],
            )  # fmt: skip
            await conn.execute(
                f'insert into "{self.schema}".participations'
                " (volunteer_id, opportunity_id, campaign_id, checked_in_at)"
                " values ($1, $2, 'cmp-1', $3)",
                volunteer, f"opp-{when.isoformat()}", when,
            )  # fmt: skip
            await conn.execute(f'set search_path to "{self.schema}"')
            await refresh(conn, [volunteer])
        finally:
            await conn.close()

    @asynccontextmanager
    async def api(self, k: int = K) -> AsyncIterator[httpx.AsyncClient]:
        settings = self.settings.model_copy(update={"api_min_cell": k})
        app = create_app(settings, {"participation": self.schema}, create_views=False)
        async with serve(app) as client:
            yield client


@pytest.fixture
async def tiny(stack: Settings, unique: str) -> AsyncIterator[Tiny]:
    """The world of the module docstring; its schema dropped afterwards."""
    schema = f"disc_{unique}"
    conn: asyncpg.Connection = await connect(stack)
    try:
        await prepare_schema(conn, PROJECTOR, schema)
    finally:
        await conn.close()
    d = dt.datetime.now(QATAR).date() - dt.timedelta(days=2)
    world = Tiny(stack, schema, d)
    year = d.year
    for municipality, (female, male) in PEOPLE.items():
        for gender, count, nationality in (
            ("female", female, "qatari"),
            ("male", male, "resident"),
        ):
            for i in range(count):
                age = 30
                if municipality == "doha" and i == 0:  # one 65+ and one 18-24 in the nation
                    age = 70 if gender == "female" else 20
                profile = (municipality, gender, year - age, nationality)
                await world.add(
                    f"{municipality}-{gender}-{i}", profile, world.at(d - dt.timedelta(days=10), 12)
                )
    await world.add(
        "p", ("al_shamal", "female", year - 30, "qatari"), world.at(d + dt.timedelta(days=1), 10)
    )
    yield world
    conn = await connect(stack)
    try:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()
