"""The BI views in a dashboard schema, the read-only role, and views surviving a rebuild."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from consumers.api.dashboard_sql import create_dashboard_views, grant_readonly, revoke_readonly
from consumers.rebuild import rebuild
from infra.db import connect
from infra.settings import Settings
from tatawwu.manifest import PROJECTORS
from tests.integration.api.world import ProjectedWorld

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
VIEWS = {
    "participation_national", "participation_by_dimension", "participation_monthly",
    "campaign_stats", "opportunity_stats", "check_ins_hourly", "organization_stats",
    "sector_stats", "projection_freshness",
}  # fmt: skip


@pytest.fixture
async def dashboard(world: ProjectedWorld, unique: str) -> AsyncIterator[tuple[str, str]]:
    """A dashboard schema over the world's read models and a read-only role for it."""
    schema, role = f"dash_{unique}", f"tatawwu_dashboard_{unique}"
    conn = await connect(world.settings)
    try:
        await grant_readonly(conn, role=role, dashboard=schema)
        created = await create_dashboard_views(
            conn, world.schemas, dashboard=schema, k=1, role=role
        )
        assert set(created) == VIEWS
        yield schema, role
    finally:
        await revoke_readonly(conn, role=role, dashboard=schema)
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()


async def as_role(settings: Settings, role: str) -> asyncpg.Connection:
    """A connection logged in as the read-only role (trust auth on the local cluster)."""
    return await asyncpg.connect(settings.dsn, user=role)


async def test_the_views_show_the_ground_truth_without_personal_data(
    world: ProjectedWorld, dashboard: tuple[str, str]
) -> None:
    """Participation by dimension, campaigns, organisations and sectors equal the truth."""
    schema, role = dashboard
    conn = await as_role(world.settings, role)
    try:
        truth = world.truth
        national = await conn.fetchrow(f'select * from "{schema}".participation_national')
        assert national["active"] == truth["participation"]["active"]
        cells = await conn.fetch(f'select * from "{schema}".participation_by_dimension')
        for dimension, expected in truth["participation"]["by"].items():
            served = {r["value"]: r["active"] for r in cells if r["dimension"] == dimension}
            assert {v: n for v, n in served.items() if n} == {
                v: n for v, n in expected.items() if n
            }
        campaigns = {
            r["campaign_id"]: r
            for r in await conn.fetch(f'select * from "{schema}".campaign_stats')
        }
        for campaign_id, expected in truth["campaigns"].items():
            assert campaigns[campaign_id]["signups"] == expected["signups"]
            assert float(campaigns[campaign_id]["verified_hours"]) == expected["verified_hours"]
        orgs = await conn.fetch(f'select * from "{schema}".organization_stats')
        assert {r["org_id"]: r["volunteers_engaged"] for r in orgs} == {
            k: o["volunteers_engaged"] for k, o in truth["organizations"]["by_id"].items()
        }
        freshness = await conn.fetch(f'select * from "{schema}".projection_freshness')
        assert {r["projection"] for r in freshness} == set(PROJECTORS)
        columns = await conn.fetch(
            "select column_name from information_schema.columns where table_schema = $1", schema
        )
        names = {r["column_name"] for r in columns}
        assert not names & {"given_name", "family_name", "phone", "email", "volunteer_id"}
        comment = await conn.fetchval(
            "select obj_description(($1 || '.participation_by_dimension')::regclass)", f'"{schema}"'
        )
        assert "withheld" in comment
    finally:
        await conn.close()


async def test_the_read_only_role_reads_views_only_and_writes_nothing(
    world: ProjectedWorld, dashboard: tuple[str, str]
) -> None:
    """As tatawwu_dashboard: base tables are denied, and no insert, update or create succeeds."""
    schema, role = dashboard
    conn = await as_role(world.settings, role)
    try:
        assert await conn.fetchval(f'select count(*) from "{schema}".sector_stats') > 0
        for table in (f'"{world.schemas["volunteers"]}".volunteers',
                      f'"{world.schemas["campaigns"]}".participations',
                      f'"{world.schemas["participation"]}".volunteer_profiles'):  # fmt: skip
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.fetch(f"select * from {table} limit 1")
        with pytest.raises(asyncpg.ReadOnlySQLTransactionError):  # read-only by default
            await conn.execute(f'create table "{schema}".mine (x int)')
        await conn.execute("set default_transaction_read_only = off")  # and without that:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f'create table "{schema}".mine (x int)')
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(f'delete from "{world.schemas["campaigns"]}".campaigns')
        for write in (f'delete from "{schema}".campaign_stats',  # no privilege, not updatable
                      f'update "{schema}".organization_stats set name_en = \'x\''):  # fmt: skip
            with pytest.raises(asyncpg.PostgresError):
                await conn.execute(write)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("create table public.mine (x int)")
    finally:
        await conn.close()


async def test_views_are_recreated_after_a_rebuild_swaps_the_schema(
    world: ProjectedWorld, dashboard: tuple[str, str]
) -> None:
    """A rebuild drops the old schema with its views; create_dashboard_views restores them."""
    schema, role = dashboard
    conn = await connect(world.settings)
    try:
        before = await conn.fetch(
            f'select campaign_id, signups from "{schema}".campaign_stats order by 1'
        )
        await rebuild(world.settings, PROJECTORS["campaigns"], schema=world.schemas["campaigns"],
                      topic_prefix=world.prefix)  # fmt: skip
        assert await conn.fetchval("select to_regclass($1)", f'"{schema}".campaign_stats') is None
        await create_dashboard_views(conn, world.schemas, dashboard=schema, k=1, role=role)
        after = await conn.fetch(
            f'select campaign_id, signups from "{schema}".campaign_stats order by 1'
        )
        assert after == before
    finally:
        await conn.close()
    reader = await as_role(world.settings, role)
    try:
        assert await reader.fetchval(f'select count(*) from "{schema}".campaign_stats') == len(
            before
        )
    finally:
        await reader.close()
