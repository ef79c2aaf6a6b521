"""The KPI of a Qatar day, read from the projection (`maintain.py`): lookups, not scans.

Each figure equals the scan's (`scan.py`) with `as_of` at the end of the day, exactly:
the cells are the Fenwick sums of the day (at most 9 rows per cell), the months before
the day's are read from `kpi_monthly` (counted at UTC month ends, as the scan does), the
day's own month is the day's total, hours are sums over at most 365 days of
`kpi_hours`. Only `min(activity_time)` still reads `activity`, through its index.
One difference no caller can reach: a municipality filter of "unknown" (not a
`Municipality`) matches volunteers without one in the series and hours here, and
nothing in the scan's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from consumers.participation.coverage import WINDOW_DAYS, end_of, prefix_nodes
from consumers.participation.kpi import Inputs, document
from consumers.participation.scan import FIRST

CELLS = """
select municipality, gender, age_band, nationality_group, sum(active)::int8 as active
from kpi_active where year = $1 and node = any($2::smallint[])
group by 1, 2, 3, 4 having sum(active) <> 0
"""
MONTHS = """
select month, municipality, active from kpi_monthly
where month >= $1 and month < $2 and ($3::text is null or municipality = $3)
"""
HOURS = """
select (select coalesce(sum(hours), 0) from kpi_hours_total
        where $3::text is null or municipality = $3)::float8 as total,
       (select coalesce(sum(hours), 0) from kpi_hours
        where day between $1 and $2 and ($3::text is null or municipality = $3))::float8
        as trailing
"""


async def cells(conn: asyncpg.Connection, day: dt.date) -> list[dict[str, Any]]:
    """Active volunteers of the day per (municipality, gender, age band, nationality group)."""
    return [dict(r) for r in await conn.fetch(CELLS, day.year, prefix_nodes(day))]


async def _months(conn: asyncpg.Connection, day: dt.date) -> list[dt.date]:
    """First days of the months of the series: from the first activity's to the day's."""
    first = await conn.fetchval(FIRST)
    if first is None:
        return []
    start, last = first.astimezone(dt.UTC).date().replace(day=1), day.replace(day=1)
    months = []
    while start <= last:
        months.append(start)
        start = dt.date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return months


async def monthly(
    conn: asyncpg.Connection, day: dt.date, found: list[dict[str, Any]], municipality: str | None
) -> list[tuple[str, int]]:
    """The series (YYYY-MM, active); under a municipality filter, its non-zero points only
    (the scan's join drops the others)."""
    months = await _months(conn, day)
    if not months:
        return []
    counts = dict.fromkeys(months[:-1], 0)
    for r in await conn.fetch(MONTHS, months[0], months[-1], municipality):
        counts[r["month"]] += r["active"]
    counts[months[-1]] = sum(
        c["active"] for c in found if municipality is None or c["municipality"] == municipality
    )
    return [(m.strftime("%Y-%m"), n) for m, n in counts.items() if n or municipality is None]


async def participation_kpi(
    conn: asyncpg.Connection,
    day: dt.date,
    *,
    hourly_rate: float = 0.0,
    municipality: str | None = None,
    found: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The KPI document of a Qatar day (`found`: the day's cells, when already read)."""
    found = await cells(conn, day) if found is None else found
    population = [dict(r) for r in await conn.fetch("select * from population")]
    series = await monthly(conn, day, found, municipality)
    since = day - dt.timedelta(days=WINDOW_DAYS - 1)
    hours = await conn.fetchrow(HOURS, since, day, municipality)
    inputs = Inputs(found, population, series, hours["total"], hours["trailing"])
    return document(inputs, end_of(day), hourly_rate=hourly_rate, municipality=municipality)


async def cross_tab(
    conn: asyncpg.Connection, day: dt.date, found: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The day's cells and the series per municipality (as `scan.cross_tab`)."""
    found = await cells(conn, day) if found is None else found
    months = await _months(conn, day)
    series = []
    if months:
        rows = await conn.fetch(MONTHS, months[0], months[-1], None)
        series = [(r["month"], r["municipality"], r["active"]) for r in rows]
        last: dict[str, int] = {}
        for c in found:
            last[c["municipality"]] = last.get(c["municipality"], 0) + c["active"]
        series += [(months[-1], m, n) for m, n in last.items() if n]
    return {
        "cells": found,
        "monthly": [
            {"month": m.strftime("%Y-%m"), "municipality": muni, "active": n}
            for m, muni, n in series
        ],
    }
