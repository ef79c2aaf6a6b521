"""The stats views over counters answer exactly what the scans of `participations` answered.

The campaigns and organizations read models keep counters by trigger
(consumers/campaigns/sql/0002_counters.sql, consumers/organizations/sql/0004_counters.sql)
instead of aggregating every participation per read. Here the views are checked against
their former definitions, the scans below, after every batch: small worlds with
conflicting facts (a campaign launched again by another organisation, an organisation
changing sector, attendance naming another campaign) in any order and batching, and a
larger stream of thousands of events with duplicates. A read model projected before the
counters existed gets them from the migration's backfill, equal too.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from hypothesis import given, settings

from consumers import campaigns, organizations
from consumers.api.queries import CAMPAIGN_ROWS
from consumers.runtime import Projector
from consumers.runtime.bookkeeping import prepare_schema
from infra.migrations import Migrations
from infra.settings import Settings
from schemas.common import Sector
from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.organizations import OrganizationRegistered
from schemas.registry import new_event
from tests.integration.ordering.deliveries import Run, scenarios
from tests.integration.ordering.replay import Database, Schemas, apply_batch
from tests.support.stats_scans import SCANS, VIEWS
from tests.support.streams import build_stream

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

COUNTERS = re.compile(
    r"_(counters|opportunity_counters|counters_once|counters_changes_only)\.sql$"
)  # the migrations under test
PROJECTORS: dict[str, Projector] = {
    "campaigns": campaigns.PROJECTOR,
    "organizations": organizations.PROJECTOR,
}


async def rows(conn: asyncpg.Connection, sql: str, key: str) -> list[dict[str, Any]]:
    return sorted((dict(r) for r in await conn.fetch(sql)), key=lambda r: str(r[key]))


async def assert_counters_equal_scans(
    conn: asyncpg.Connection, schema: str, model: str
) -> dict[str, list[dict[str, Any]]]:
    """Each stats view of the model, row for row and column for column, equals its scan."""
    seen = {}
    async with conn.transaction():
        await conn.execute(f'set local search_path to "{schema}"')
        for view in VIEWS[model]:
            key, scan = SCANS[view]
            expected = await rows(conn, scan, key)
            counted = (CAMPAIGN_ROWS.format(c=f'"{schema}"') if view == "campaign_rows"
                       else f"select * from {view}")  # fmt: skip
            got = await rows(conn, counted, key)
            assert got == expected, f"{view} differs from its scan"
            seen[view] = got
    return seen


async def deliver_checked(
    conn: asyncpg.Connection, model: str, events: list[Event[Any]], run: Run
) -> dict[str, list[dict[str, Any]]]:
    """Deliver as `run` says, checking after every batch; the views at the end."""
    schemas = Schemas(conn, "counters")
    schema = await schemas.fresh(PROJECTORS[model])
    try:
        for batch in run.batches(events):
            await apply_batch(conn, PROJECTORS[model], schema, batch)
            seen = await assert_counters_equal_scans(conn, schema, model)
        return seen
    finally:
        await schemas.drop(schema)


@pytest.mark.parametrize("model", list(VIEWS))
@settings(max_examples=15, deadline=None)
@given(scenario=scenarios(count=2))
async def test_counters_equal_the_scans_after_every_batch(
    db: Database, model: str, scenario: tuple[list[Event[Any]], list[Run]]
) -> None:
    """Small worlds with conflicting facts, in one batch and shuffled into random batches."""
    events, runs = scenario
    async with db.connection() as conn:
        for run in runs:
            await deliver_checked(conn, model, events, run)


def stream_events(size: int, seed: int) -> list[Event[Any]]:
    """A build_stream's valid events (duplicates included), shuffled, with organisations: the
    campaigns' owner registered twice in two sectors, and a third of the campaigns launched
    again, earlier, by a second organisation (their owner changes when that arrives)."""
    events = [
        e for _, _, value in build_stream(size, seed=seed, volunteers=300, opportunities=48).records
        if not isinstance(e := decode_event(value), DecodeError)
    ]  # fmt: skip
    launches = [e for e in events if e.type == "campaign.launched"]
    for n, (org, sector) in enumerate((("org-test", Sector.NONPROFIT),
                                        ("org-test", Sector.COMMUNITY),
                                        ("org-other", Sector.COMMUNITY))):  # fmt: skip
        registered = OrganizationRegistered(org_id=org, name_ar="منظمة", name_en=org, sector=sector)
        events.append(new_event(registered, source=f"partner/{org}", event_id=f"org-{n}",
                                time=launches[0].time + dt.timedelta(minutes=n)))  # fmt: skip
    for launch in launches[::3]:
        again = launch.data.model_copy(update={"org_id": "org-other"})
        events.append(new_event(again, source="partner/org-other", event_id=f"re-{launch.id}",
                                time=launch.time - dt.timedelta(minutes=1)))  # fmt: skip
    random.Random(seed).shuffle(events)
    return events


@pytest.mark.parametrize("model", list(VIEWS))
async def test_counters_equal_the_scans_on_a_larger_stream(stack: Settings, model: str) -> None:
    """Thousands of events on hundreds of volunteers, shuffled, in batches of 200."""
    events = stream_events(4000, seed=3)
    run = Run(tuple(range(len(events))), tuple((n + 1) % 200 == 0 for n in range(len(events))), 0)
    async with Database(stack).connection() as conn:
        views = await deliver_checked(conn, model, events, run)
    # Not vacuous: every measure is there, and owners and sectors moved on the way.
    engaged = {"campaigns": ("campaign_stats", "volunteers_attended"),
               "organizations": ("sector_stats", "volunteers_engaged")}[model]  # fmt: skip
    assert sum(row[engaged[1]] for row in views[engaged[0]]) > 100
    first = views[VIEWS[model][0]]
    hours = {c: sum(r[c] or 0 for r in first) for c in first[0] if "hours" in c}
    assert hours, "no hours column"
    assert all(hours.values()), hours


@pytest.mark.parametrize("model", list(VIEWS))
async def test_the_migration_counts_what_was_projected_before_it(
    stack: Settings, model: str, tmp_path: Path
) -> None:
    """A read model projected before the counters existed gets exact counters from their
    migrations (each backfills what is there) when the projector next starts."""
    projector = PROJECTORS[model]
    own = projector.migrations[-1]
    for path in sorted(own.directory.glob("*.sql")):
        if not COUNTERS.search(path.name):
            shutil.copy(path, tmp_path / path.name)
    before = replace(projector, migrations=(*projector.migrations[:-1],
                                            Migrations(own.component, tmp_path)))  # fmt: skip
    events = stream_events(2000, seed=9)
    async with Database(stack).connection() as conn:
        schemas = Schemas(conn, "counters")
        schema = await schemas.fresh(before)
        try:
            for n in range(0, len(events), 250):
                await apply_batch(conn, before, schema, events[n : n + 250])
            await prepare_schema(conn, projector, schema)  # the counters' migrations
            await assert_counters_equal_scans(conn, schema, model)
        finally:
            await schemas.drop(schema)
