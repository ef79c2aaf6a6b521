"""The read API's SQL over the projectors' read models (schemas from `Sources`).

Every statement names its tables with the schema (`"campaigns".campaigns`), and the
pool keeps no prepared-statement cache, so after a rebuild swaps a schema by rename
the next request reads the new tables.

Ids that order rows or break ties are compared with COLLATE "C" (byte order), in ORDER
BY and in the keyset comparison alike: the default collation is the database's, and
one created with en-US would sort "a-1" before "A_1", so pages would differ between
servers and, were the two clauses to disagree, repeat or skip rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

import asyncpg

from consumers.api.cursor import Position
from consumers.api.sources import Sources, quoted

CampaignSort = Literal["starts_on", "-starts_on", "fill_rate", "-fill_rate"]
# Sort key expression and its SQL type; nulls sort as the lowest value.
SORT_KEYS = {
    "starts_on": ("coalesce(starts_on, date '0001-01-01')", "date"),
    "fill_rate": ("coalesce(fill_rate, -1)", "numeric"),
}

# Opportunities, capacity and filled places per campaign are counted by the read model
# (consumers/campaigns/sql/0003_opportunity_counters.sql), not aggregated per read.
CAMPAIGN_ROWS = """
select c.campaign_id, c.org_id, c.title_ar, c.title_en, c.kind, c.municipality, c.starts_on,
       c.ends_on, c.status, c.target_volunteers, c.target_hours,
       coalesce(o.opportunities, 0) as opportunity_count, coalesce(o.capacity, 0) as capacity,
       s.signups, s.withdrawals, s.check_ins, s.no_shows, s.verified_hours,
       s.volunteers_attended,
       case when o.capacity > 0 then round(o.filled::numeric / o.capacity, 4) end as fill_rate,
       s.volunteer_progress, s.hours_progress
from {c}.campaigns c
join {c}.campaign_stats s using (campaign_id)
left join {c}.campaign_capacity o using (campaign_id)
"""


def plain(record: asyncpg.Record | None) -> dict[str, Any]:
    """A row as a dict with numerics as floats (the JSON the API serves)."""
    if record is None:
        return {}
    return {k: float(v) if isinstance(v, Decimal) else v for k, v in record.items()}


def campaign_sort_key(row: dict[str, Any], sort: str) -> str:
    """The cursor key of a row for this sort (text, cast back in SQL)."""
    field = sort.lstrip("-")
    value = row[field]
    if value is None:
        return "0001-01-01" if field == "starts_on" else "-1"
    return value.isoformat() if isinstance(value, dt.date) else str(value)


async def campaign_page(
    conn: asyncpg.Connection,
    sources: Sources,
    *,
    sort: str,
    limit: int,
    after: Position | None,
    municipality: str | None,
    org_id: str | None,
    status: str | None,
) -> list[dict[str, Any]]:
    """Up to `limit` campaigns after the cursor position, in the sort's order."""
    expr, sql_type = SORT_KEYS[sort.lstrip("-")]
    descending = sort.startswith("-")
    compare, direction = ("<", "desc") if descending else (">", "asc")
    sql = f"""
        with rows as ({CAMPAIGN_ROWS.format(c=sources.q("campaigns"))})
        select * from rows
        where ($1::text is null or municipality = $1)
          and ($2::text is null or org_id = $2)
          and ($3::text is null or status = $3)
          and ($4::text is null
               or ({expr}, campaign_id collate "C") {compare} ($4::text::{sql_type}, $5::text))
        order by {expr} {direction}, campaign_id collate "C" {direction}
        limit $6
    """
    rows = await conn.fetch(
        sql,
        municipality,
        org_id,
        status,
        None if after is None else str(after.key),
        None if after is None else after.id,
        limit,
    )
    return [plain(r) for r in rows]


async def campaign(
    conn: asyncpg.Connection, sources: Sources, campaign_id: str
) -> dict[str, Any] | None:
    """One campaign with its opportunities, or None."""
    c = sources.q("campaigns")
    row = await conn.fetchrow(
        f"with rows as ({CAMPAIGN_ROWS.format(c=c)}) select * from rows where campaign_id = $1",
        campaign_id,
    )
    if row is None:
        return None
    opportunities = await conn.fetch(
        f"""select o.opportunity_id, o.title_ar, o.title_en, o.starts_at, o.ends_at, o.capacity,
                   o.municipality, o.min_age, o.status, s.signups, s.withdrawals, s.waitlisted,
                   s.check_ins, s.no_shows, s.verified_hours, s.unverified_hours, s.fill_rate
            from {c}.opportunities o join {c}.opportunity_stats s using (opportunity_id)
            where o.campaign_id = $1
            order by o.starts_at nulls last, o.opportunity_id collate "C"
        """,
        campaign_id,
    )
    return {**plain(row), "opportunities": [plain(o) for o in opportunities]}


async def organization_page(
    conn: asyncpg.Connection,
    sources: Sources,
    *,
    limit: int,
    after: Position | None,
    sector: str | None,
    status: str | None,
) -> list[dict[str, Any]]:
    """Up to `limit` organisations after the cursor, by id."""
    rows = await conn.fetch(
        f"""select s.*, o.registered_at
            from {sources.q("organizations")}.organization_stats s
            join {sources.q("organizations")}.organizations o using (org_id)
            where ($1::text is null or s.sector = $1) and ($2::text is null or s.status = $2)
              and ($3::text is null or s.org_id collate "C" > $3)
            order by s.org_id collate "C" limit $4""",
        sector,
        status,
        None if after is None else after.id,
        limit,
    )
    return [plain(r) for r in rows]


async def organization(
    conn: asyncpg.Connection, sources: Sources, org_id: str
) -> dict[str, Any] | None:
    """One organisation with its campaigns, or None."""
    o, c = sources.q("organizations"), sources.q("campaigns")
    row = await conn.fetchrow(
        f"""select s.*, o.registered_at from {o}.organization_stats s
            join {o}.organizations o using (org_id) where s.org_id = $1""",
        org_id,
    )
    if row is None:
        return None
    campaigns = await conn.fetch(
        f"""select oc.campaign_id, c.title_ar, c.title_en, c.municipality, c.status, c.starts_on
            from {o}.org_campaigns oc left join {c}.campaigns c using (campaign_id)
            where oc.org_id = $1
            order by c.starts_on desc nulls last, oc.campaign_id collate "C"
        """,
        org_id,
    )
    return {**plain(row), "campaign_list": [plain(r) for r in campaigns]}


async def sectors(conn: asyncpg.Connection, sources: Sources) -> list[dict[str, Any]]:
    """Every sector's totals."""
    rows = await conn.fetch(
        f"select * from {sources.q('organizations')}.sector_stats"
        ' order by sector collate "C" nulls last'
    )
    return [plain(r) for r in rows]


async def volunteer(
    conn: asyncpg.Connection, sources: Sources, volunteer_id: str
) -> dict[str, Any] | None:
    """One volunteer's profile and totals (personal data), or None."""
    row = await conn.fetchrow(
        f"select * from {sources.q('volunteers')}.volunteer_directory where volunteer_id = $1",
        volunteer_id,
    )
    return plain(row) if row is not None else None


async def organisation_volunteer(
    conn: asyncpg.Connection, sources: Sources, volunteer_id: str, org_id: str
) -> dict[str, Any] | None:
    """What an organisation may see of one of its volunteers (one who signed up for, or
    took part in, an opportunity of its campaigns), or None (unknown, or not its own)."""
    row = await conn.fetchrow(
        f"""select v.volunteer_id, v.given_name, v.language, v.status
            from {sources.q("volunteers")}.volunteers v
            where v.volunteer_id = $1 and exists (
                select 1 from {sources.q("volunteers")}.participations p
                join {sources.q("campaigns")}.campaigns c on c.campaign_id = p.campaign_id
                where p.volunteer_id = v.volunteer_id and c.org_id = $2)""",
        volunteer_id,
        org_id,
    )
    return plain(row) if row is not None else None


async def projector_stats(conn: asyncpg.Connection, schema: str) -> dict[str, Any] | None:
    """A projector's counters and stored offsets, or None when its schema does not exist."""
    if await conn.fetchval("select to_regclass($1)", f"{quoted(schema)}._stats") is None:
        return None
    stats = await conn.fetchrow(f"select * from {quoted(schema)}._stats")
    offsets = await conn.fetch(
        f"select topic, kafka_partition, next_offset from {quoted(schema)}._offsets"
    )
    return {**plain(stats), "offsets": [tuple(r) for r in offsets]}


async def hourly_check_ins(
    conn: asyncpg.Connection, sources: Sources, since: dt.datetime, until: dt.datetime
) -> dict[dt.datetime, int]:
    """Check-ins in [since, until) per hour (bins aligned on UTC hours, as Qatar's are)."""
    # The coalesce bounds let PostgreSQL use the participation schema's activity index, and
    # both are needed: with only the lower one it estimates a long range and scans the whole
    # table (550 ms at 6.2 million participations, 13 ms with both). They select nothing more:
    # where checked_in_at is set, the coalesce is checked_in_at.
    rows = await conn.fetch(
        f"""select date_bin('1 hour', checked_in_at, timestamptz '2000-01-01') as bin,
                   count(*) as n
            from {sources.q("participation")}.participations
            where coalesce(checked_in_at, first_verified_at) >= $1
              and coalesce(checked_in_at, first_verified_at) < $2
              and (checked_in_at is not null or hours is not null)
              and checked_in_at >= $1 and checked_in_at < $2
            group by 1""",
        since,
        until,
    )
    return {r["bin"]: r["n"] for r in rows}
