"""The KPI's reference computation: scans of the `activity` view for any as-of instant.

This was the KPI's only implementation; it reads every participation in the window on
each call (1-1.5 s at 87,000 active volunteers), so the API now answers from the
projection (`lookup.py`) and keeps this for what the projection cannot answer (an
instant that does not end a Qatar day) and as the definition the projection must equal
exactly (tests/integration/participation/test_kpi_projection.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from consumers.participation.kpi import Inputs, document

CELLS = """
with active as (
    select distinct volunteer_id from activity
    where activity_time > $1::timestamptz - interval '365 days' and activity_time <= $1
)
select coalesce(v.municipality, 'unknown') as municipality, coalesce(v.gender, 'unknown') as gender,
       age_band(v.birth_year, $1) as age_band,
       coalesce(v.nationality_group, 'unknown') as nationality_group, count(*) as active
from active a left join volunteer_profiles v using (volunteer_id)
group by 1, 2, 3, 4
"""
MONTHLY = """
with months as (
    select least(g + interval '1 month' - interval '1 microsecond', $1::timestamptz) as month_end
    from generate_series(date_trunc('month', $2::timestamptz at time zone 'UTC') at time zone 'UTC',
                         $1::timestamptz, interval '1 month') as g
)
select m.month_end, count(distinct a.volunteer_id) as active
from months m
left join activity a
  on a.activity_time > m.month_end - interval '365 days' and a.activity_time <= m.month_end
left join volunteer_profiles v on v.volunteer_id = a.volunteer_id
where $3::text is null or v.municipality = $3
group by m.month_end order by m.month_end
"""
MONTHLY_BY_MUNICIPALITY = """
with months as (
    select least(g + interval '1 month' - interval '1 microsecond', $1::timestamptz) as month_end
    from generate_series(date_trunc('month', $2::timestamptz at time zone 'UTC') at time zone 'UTC',
                         $1::timestamptz, interval '1 month') as g
)
select m.month_end, coalesce(v.municipality, 'unknown') as municipality,
       count(distinct a.volunteer_id) as active
from months m
join activity a
  on a.activity_time > m.month_end - interval '365 days' and a.activity_time <= m.month_end
left join volunteer_profiles v on v.volunteer_id = a.volunteer_id
group by 1, 2
"""
HOURS = """
select coalesce(sum(a.hours), 0)::float8 as total, coalesce(sum(a.hours) filter (
    where a.activity_time > $1::timestamptz - interval '365 days' and a.activity_time <= $1),
    0)::float8 as trailing
from activity a left join volunteer_profiles v on v.volunteer_id = a.volunteer_id
where $2::text is null or v.municipality = $2
"""
FIRST = "select min(activity_time) from activity"


async def cross_tab(conn: asyncpg.Connection, as_of: dt.datetime) -> dict[str, Any]:
    """Active volunteers per (municipality, gender, age band, nationality group) and per
    (month, municipality): what disclosure control needs to protect every filter at once."""
    cells = [dict(r) for r in await conn.fetch(CELLS, as_of)]
    first = await conn.fetchval(FIRST)
    months = await conn.fetch(MONTHLY_BY_MUNICIPALITY, as_of, first or as_of) if first else []
    monthly = [
        {"month": r["month_end"].strftime("%Y-%m"), "municipality": r["municipality"],
         "active": r["active"]}
        for r in months
    ]  # fmt: skip
    return {"cells": cells, "monthly": monthly}


async def participation_kpi(
    conn: asyncpg.Connection,
    as_of: dt.datetime,
    *,
    hourly_rate: float = 0.0,
    municipality: str | None = None,
) -> dict[str, Any]:
    """The KPI document the read API serves (aggregates only, no personal data)."""
    cells = [dict(r) for r in await conn.fetch(CELLS, as_of)]
    population = [dict(r) for r in await conn.fetch("select * from population")]
    first = await conn.fetchval(FIRST)
    monthly = await conn.fetch(MONTHLY, as_of, first or as_of, municipality) if first else []
    hours = await conn.fetchrow(HOURS, as_of, municipality)
    inputs = Inputs(
        cells, population, [(r["month_end"].strftime("%Y-%m"), r["active"]) for r in monthly],
        hours["total"], hours["trailing"],
    )  # fmt: skip
    return document(inputs, as_of, hourly_rate=hourly_rate, municipality=municipality)
