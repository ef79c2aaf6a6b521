"""The KPI projection answers exactly what the scan of `activity` answers, for any day.

Random worlds (`worlds.py`: late and reordered facts, moved activity times, corrected
hours, re-registrations and moves, instants on the edges of days and months) are
delivered batch by batch through the participation read model's declared parts, as the
runtime calls them; between batches and at the end, the projection's document and
cross-tabulation of many days (365 days after an activity, year and month ends...)
must equal the scan's with `as_of` at the end of that Qatar day, nationally and under
every municipality filter.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from consumers.api.days import counted
from consumers.api.kpi import kpi as api_kpi
from consumers.api.sources import Sources
from consumers.participation import PROJECTOR, lookup, scan
from consumers.participation.coverage import end_of
from consumers.participation.maintain import backfill
from consumers.participation.projector import DEMOGRAPHIC, load_population
from consumers.parts import participations, read_model, refold
from infra.db import connect
from infra.settings import Settings
from tests.integration.ordering.replay import Schemas, apply_batch, difference, snapshot
from tests.integration.participation.worlds import MUNICIPALITIES, World

pytestmark = [pytest.mark.postgres]
SEEDS = range(16)
# The read model as it was before the projection: the same tables, nothing kept in them.
PLAIN = read_model(
    "participation",
    refold(DEMOGRAPHIC),
    participations(),
    sql=PROJECTOR.migrations[-1].directory,
    prepare=load_population,
)


@pytest.fixture
async def conn(stack: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(stack)
    try:
        yield connection
    finally:
        await connection.close()


def _sorted(cross: dict[str, Any]) -> dict[str, Any]:
    key = lambda r: sorted((k, str(v)) for k, v in r.items())  # noqa: E731
    return {name: sorted(rows, key=key) for name, rows in cross.items()}


async def assert_same_answers(conn: asyncpg.Connection, schema: str, days: list[dt.date]) -> None:
    """Projection and scan agree on every day, nationally and per municipality."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        await conn.execute(f'set local search_path to "{schema}"')
        for day in days:
            until = end_of(day)
            for municipality in (None, *MUNICIPALITIES):
                expected = await scan.participation_kpi(
                    conn, until, hourly_rate=40.0, municipality=municipality
                )
                actual = await lookup.participation_kpi(
                    conn, day, hourly_rate=40.0, municipality=municipality
                )
                assert actual == expected, (day, municipality)
            expected_cross = _sorted(await scan.cross_tab(conn, until))
            assert _sorted(await lookup.cross_tab(conn, day)) == expected_cross, day


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_projection_equals_the_scan_for_every_day_of_a_random_world(
    conn: asyncpg.Connection, seed: int
) -> None:
    """Delivered in shuffled batches (some twice), checked on the way and at the end."""
    world = World(seed)
    schemas = Schemas(conn, "kpi")
    schema = await schemas.fresh(PROJECTOR)
    try:
        batches = world.deliveries(batches=8)
        for n, batch in enumerate(batches):
            await apply_batch(conn, PROJECTOR, schema, batch)
            if n % 3 == 1:
                await assert_same_answers(conn, schema, world.days(3))
        await assert_same_answers(conn, schema, world.days(16))
    finally:
        await schemas.drop(schema)


async def test_a_batch_rolled_back_after_the_projection_leaves_no_trace(
    conn: asyncpg.Connection,
) -> None:
    """A projector killed mid-batch: nothing of the batch stays, and applying it again
    gives the answers and tables of an uninterrupted delivery."""
    world = World(101)
    schemas = Schemas(conn, "kpi")
    schema = await schemas.fresh(PROJECTOR)
    try:
        batches = world.deliveries(batches=4)
        for batch in batches[:-1]:
            await apply_batch(conn, PROJECTOR, schema, batch)
        before = await snapshot(conn, schema)

        async def killed_mid_batch() -> None:
            async with conn.transaction():
                await conn.execute(f'set local search_path to "{schema}"')
                await PROJECTOR.apply(conn, batches[-1], None)
                assert await conn.fetchval("select count(*) from kpi_volunteers") > 0
                raise RuntimeError("killed after the projection was written")

        with pytest.raises(RuntimeError, match="killed"):
            await killed_mid_batch()
        assert await snapshot(conn, schema) == before
        await apply_batch(conn, PROJECTOR, schema, batches[-1])
        await assert_same_answers(conn, schema, world.days(20))
    finally:
        await schemas.drop(schema)


@pytest.mark.parametrize("seed", [7, 8])
async def test_backfill_of_a_schema_without_the_projection_builds_the_same_tables(
    conn: asyncpg.Connection, seed: int
) -> None:
    """A schema projected before the projection existed gets, at start-up, exactly the
    tables the projector would have kept (and a second backfill does nothing)."""
    world = World(seed)
    schemas = Schemas(conn, "kpi")
    kept, plain = await schemas.fresh(PROJECTOR), await schemas.fresh(PLAIN)
    try:
        for batch in world.deliveries(batches=6):
            await apply_batch(conn, PROJECTOR, kept, batch)
            await apply_batch(conn, PLAIN, plain, batch)
        await conn.execute(f'set search_path to "{plain}"')
        assert await backfill(conn) > 0
        assert await backfill(conn) == 0
        await conn.execute("reset search_path")
        expected, actual = await snapshot(conn, kept), await snapshot(conn, plain)
        assert actual == expected, difference(expected, actual)
    finally:
        await conn.execute("reset search_path")
        await schemas.drop(kept)
        await schemas.drop(plain)


@pytest.mark.parametrize("zone", ["Asia/Qatar", "Asia/Tokyo"])
async def test_the_api_serves_the_scans_figures_whichever_path_answers(
    conn: asyncpg.Connection, zone: str
) -> None:
    """A Qatar day is looked up, a day of another API zone scanned: with k = 1 both
    documents carry exactly the scan's figures for the end of that day. The days are
    those with activity between the end of the Tokyo day and that of the Qatar day
    (15:00-21:00 UTC), where the two calendars' answers differ."""
    world = World(55, volunteers=60)
    schemas = Schemas(conn, "kpi")
    schema = await schemas.fresh(PROJECTOR)
    try:
        for batch in world.deliveries(batches=3):
            await apply_batch(conn, PROJECTOR, schema, batch)
        sources = Sources.of({"participation": schema})
        now = world.start + world.span + dt.timedelta(days=400)
        days = sorted({t.date() for t in world.instants if 15 <= t.hour < 21})[:12]
        differ = 0
        for day in days:
            counted_day = counted(day, zone, now)
            doc = await api_kpi(
                conn, sources, counted_day, k=1, hourly_rate=40.0, municipality=None
            )
            async with conn.transaction(readonly=True):
                await conn.execute(f'set local search_path to "{schema}"')
                expected = await scan.participation_kpi(conn, counted_day.until, hourly_rate=40.0)
                qatar = await scan.participation_kpi(conn, end_of(day), hourly_rate=40.0)
            differ += qatar["national"] != expected["national"]
            assert doc.national.active == expected["national"]["active"], (zone, day)
            assert [m.active for m in doc.monthly] == [m["active"] for m in expected["monthly"]]
            assert doc.hours.verified_total == expected["hours"]["verified_total"]
            assert doc.hours.verified_trailing_12m == expected["hours"]["verified_trailing_12m"]
            assert {v: c.active for v, c in doc.breakdowns["age_band"].items()} == {
                v: c["active"] for v, c in expected["breakdowns"]["age_band"].items()
            }
        assert differ or zone == "Asia/Qatar", "no day tells the two calendars apart"
    finally:
        await schemas.drop(schema)
