"""The `organizations` read model, declared: organisations refolded, campaign owners, participations."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg

from consumers.organizations.rules import (
    ORG_COLUMNS,
    ORG_TYPES,
    OWNER_TYPES,
    earliest_launches,
    fold_organization,
)
from consumers.parts import Entity, participations, read_model, refold, rules
from schemas.envelope import Event

ORGANIZATION = Entity("org", ORG_TYPES, fold_organization, "organizations", ORG_COLUMNS)

# A launch replaces the stored owner only when it is earlier by (time, id, source), in
# byte order as in Python; a row without a stamp (written before 0002) gives way to any.
RECORD_OWNERS = """
insert into org_campaigns as c (campaign_id, org_id, launched_time, launched_event,
    launched_source)
select * from unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[])
on conflict (campaign_id) do update set
    org_id = excluded.org_id,
    launched_time = excluded.launched_time,
    launched_event = excluded.launched_event,
    launched_source = excluded.launched_source
where c.launched_time is null
   or (excluded.launched_time, excluded.launched_event collate "C",
       excluded.launched_source collate "C")
      < (c.launched_time, c.launched_event collate "C", coalesce(c.launched_source, '') collate "C")
"""


async def record_owners(conn: asyncpg.Connection, events: Sequence[Event[Any]], _: Any) -> None:
    """Record each launched campaign's owner, the earliest launch winning."""
    if launches := earliest_launches(events):
        campaigns = list(launches)
        await conn.execute(
            RECORD_OWNERS,
            campaigns,
            [launches[c][3] for c in campaigns],
            [launches[c][0] for c in campaigns],
            [launches[c][1] for c in campaigns],
            [launches[c][2] for c in campaigns],
        )


PROJECTOR = read_model(
    "organizations",
    refold(ORGANIZATION),
    rules("campaign owners", OWNER_TYPES, record_owners),
    participations(),
    sql=Path(__file__).with_name("sql"),
)
