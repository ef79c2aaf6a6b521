"""The read API's pages break ties by id in byte order, on any database collation.

Keyset pages compare the cursor's id in SQL: if ORDER BY and that comparison followed
the database's collation (en-US sorts "a-1" before "A_1", bytes the reverse) or
disagreed with each other, following `next_cursor` would repeat or skip rows.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from consumers import campaigns, organizations
from consumers.api import queries
from consumers.api.cursor import Position
from consumers.api.sources import Sources
from schemas.campaigns import CampaignLaunched
from schemas.common import CampaignKind, Municipality, Sector
from schemas.organizations import OrganizationRegistered
from schemas.registry import new_event
from tests.integration.ordering.replay import Database, Schemas, apply_batch

pytestmark = [pytest.mark.postgres]

IDS = ("a-1", "A_1", "a.1", "B", "b", "A-1", "a_1", "a1", "a:1", "A.1")
AT = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
STARTS = dt.date(2026, 3, 1)  # every campaign starts the same day: ids break the tie


def launched(campaign_id: str, n: int) -> Any:
    data = CampaignLaunched(
        campaign_id=campaign_id, org_id="org-a", title_ar="حملة", title_en="Drive",
        kind=CampaignKind.VOLUNTEER_DRIVE, municipality=Municipality.DOHA, starts_on=STARTS,
        ends_on=STARTS + dt.timedelta(days=30), target_volunteers=10, target_hours=40,
    )  # fmt: skip
    return new_event(data, source="partner/org-a", event_id=f"e-{n}", time=AT)


def registered(org_id: str, n: int) -> Any:
    data = OrganizationRegistered(
        org_id=org_id, name_ar="منظمة", name_en="Partner", sector=Sector.NONPROFIT
    )
    return new_event(data, source=f"partner/{org_id}", event_id=f"e-{n}", time=AT)


@pytest.mark.parametrize("sort", ["starts_on", "-starts_on"])
async def test_campaign_pages_follow_byte_order_without_repeats_or_gaps(
    db: Database, sort: str
) -> None:
    """Pages of two, cursor after cursor, list every campaign once, ids in byte order."""
    async with db.connection() as conn:
        schemas = Schemas(conn, "keyset")
        schema = await schemas.fresh(campaigns.PROJECTOR)
        try:
            events = [launched(c, n) for n, c in enumerate(IDS)]
            await apply_batch(conn, campaigns.PROJECTOR, schema, events)
            sources = Sources.of({"campaigns": schema})
            seen: list[str] = []
            after = None
            while True:
                rows = await queries.campaign_page(
                    conn, sources, sort=sort, limit=2, after=after,
                    municipality=None, org_id=None, status=None,
                )  # fmt: skip
                if not rows:
                    break
                seen += [r["campaign_id"] for r in rows]
                last = rows[-1]
                after = Position(queries.campaign_sort_key(last, sort), last["campaign_id"])
                assert len(seen) <= len(IDS), f"pages repeat rows: {seen}"
        finally:
            await schemas.drop(schema)
    assert seen == sorted(IDS, reverse=sort.startswith("-"))


async def test_organization_pages_follow_byte_order_without_repeats_or_gaps(
    db: Database,
) -> None:
    """Organisations page by id in byte order, each once."""
    async with db.connection() as conn:
        schemas = Schemas(conn, "keyset")
        schema = await schemas.fresh(organizations.PROJECTOR)
        try:
            events = [registered(o, n) for n, o in enumerate(IDS)]
            await apply_batch(conn, organizations.PROJECTOR, schema, events)
            sources = Sources.of({"organizations": schema})
            seen: list[str] = []
            after = None
            while rows := await queries.organization_page(
                conn, sources, limit=3, after=after, sector=None, status=None
            ):
                seen += [r["org_id"] for r in rows]
                after = Position(rows[-1]["org_id"], rows[-1]["org_id"])
                assert len(seen) <= len(IDS), f"pages repeat rows: {seen}"
        finally:
            await schemas.drop(schema)
    assert seen == sorted(IDS)
