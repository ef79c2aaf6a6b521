"""The national participation KPI: queries over the `participation` read model, and the math.

`participation_kpi(conn, as_of, ...)` answers "what share of the eligible population
volunteered in the 12 months before as_of", nationally and by municipality, gender,
age band and nationality group, with the monthly series and the trajectory to the
national target (10% by the end of 2030). Rules: see the package docstring.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import asyncpg

TARGET_RATE = 0.10
TARGET_DATE = dt.datetime(2030, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
WINDOW = dt.timedelta(days=365)
DIMENSIONS = ("municipality", "gender", "age_band", "nationality_group")

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


async def cross_tab(conn: asyncpg.Connection, as_of: dt.datetime) -> dict[str, Any]:
    """Active volunteers per (municipality, gender, age band, nationality group) and per
    (month, municipality): what disclosure control needs to protect every filter at once."""
    cells = [dict(r) for r in await conn.fetch(CELLS, as_of)]
    first = await conn.fetchval("select min(activity_time) from activity")
    months = await conn.fetch(MONTHLY_BY_MUNICIPALITY, as_of, first or as_of) if first else []
    monthly = [
        {"month": r["month_end"].strftime("%Y-%m"), "municipality": r["municipality"],
         "active": r["active"]}
        for r in months
    ]  # fmt: skip
    return {"cells": cells, "monthly": monthly}


@dataclass(frozen=True)
class Trajectory:
    """Where the current rate stands against the target and what growth it still needs."""

    rate: float
    target_rate: float
    target_date: dt.datetime
    months_left: int
    monthly_growth_needed: float | None  # compound, per month; None when the rate is 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "rate": self.rate,
            "target_rate": self.target_rate,
            "target_date": self.target_date.date().isoformat(),
            "months_left": self.months_left,
            "monthly_growth_needed": self.monthly_growth_needed,
            "on_track": self.rate >= self.target_rate,
        }


def trajectory(rate: float, as_of: dt.datetime, target: float = TARGET_RATE) -> Trajectory:
    """Compound monthly growth that takes `rate` to `target` by the end of 2030."""
    months = max(0, (TARGET_DATE.year - as_of.year) * 12 + TARGET_DATE.month - as_of.month)
    if rate >= target:
        growth: float | None = 0.0
    elif rate <= 0 or months == 0:
        growth = None
    else:
        growth = (target / rate) ** (1 / months) - 1
    return Trajectory(rate, target, TARGET_DATE, months, growth)


def _rate(active: int, population: int) -> float | None:
    return round(active / population, 6) if population else None


async def participation_kpi(
    conn: asyncpg.Connection,
    as_of: dt.datetime,
    *,
    hourly_rate: float = 0.0,
    municipality: str | None = None,
) -> dict[str, Any]:
    """The KPI document the read API serves (aggregates only, no personal data)."""
    cells = await conn.fetch(CELLS, as_of)
    population = await conn.fetch("select * from population")
    if municipality:
        cells = [c for c in cells if c["municipality"] == municipality]
        population = [p for p in population if p["municipality"] == municipality]
    active: dict[str, dict[str, int]] = {d: defaultdict(int) for d in DIMENSIONS}
    pop: dict[str, dict[str, int]] = {d: defaultdict(int) for d in DIMENSIONS}
    for cell in cells:
        for d in DIMENSIONS:
            active[d][cell[d]] += cell["active"]
    for row in population:
        for d in DIMENSIONS:
            pop[d][row[d]] += row["population"]
    total_active = sum(c["active"] for c in cells)
    total_population = sum(p["population"] for p in population)
    rate = _rate(total_active, total_population) or 0.0
    first = await conn.fetchval("select min(activity_time) from activity")
    monthly = await conn.fetch(MONTHLY, as_of, first or as_of, municipality) if first else []
    hours = await conn.fetchrow(
        "select coalesce(sum(a.hours), 0)::float8 as total, coalesce(sum(a.hours) filter ("
        " where a.activity_time > $1::timestamptz - interval '365 days' and a.activity_time <= $1),"
        " 0)::float8 as trailing from activity a"
        " left join volunteer_profiles v on v.volunteer_id = a.volunteer_id"
        " where $2::text is null or v.municipality = $2",
        as_of,
        municipality,
    )
    return {
        "as_of": as_of.isoformat(),
        "municipality": municipality,
        "national": {"active": total_active, "population": total_population, "rate": rate},
        "breakdowns": {
            d: {
                value: {
                    "active": active[d].get(value, 0),
                    "population": pop[d].get(value, 0),
                    "rate": _rate(active[d].get(value, 0), pop[d].get(value, 0)),
                }
                for value in sorted(set(active[d]) | set(pop[d]))
            }
            for d in DIMENSIONS
        },
        "monthly": [
            {
                "month": r["month_end"].strftime("%Y-%m"),
                "active": r["active"],
                "rate": _rate(r["active"], total_population),
            }
            for r in monthly
        ],
        "hours": {
            "verified_total": round(hours["total"], 2),
            "verified_trailing_12m": round(hours["trailing"], 2),
            "hourly_rate": hourly_rate,
            "economic_value": round(hours["total"] * hourly_rate, 2),
        },
        "trajectory": trajectory(rate, as_of).as_dict(),
    }
