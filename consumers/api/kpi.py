"""The public KPI document of one day: the participation read model's KPI under the
disclosure policy (DISCLOSURE.md)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from consumers.api.days import Day
from consumers.api.disclosure import kpi_family
from consumers.api.models import Cell, Hours, Kpi, Month, PathPoint, Trajectory
from consumers.api.sources import Sources
from consumers.api.suppression import Key, protect
from consumers.participation import lookup, scan
from consumers.participation.coverage import end_of
from consumers.participation.kpi import TARGET_DATE


def required_path(rate: float, as_of: dt.datetime, growth: float | None) -> list[PathPoint]:
    """Year-end points of the compound path from today's rate to the target."""
    points = [PathPoint(month=as_of.strftime("%Y-%m"), rate=round(rate, 6))]
    if growth is None:
        return points
    for year in range(as_of.year, TARGET_DATE.year + 1):
        months = (year - as_of.year) * 12 + 12 - as_of.month
        if months > 0:
            value = round(rate * (1 + growth) ** months, 6)
            points.append(PathPoint(month=f"{year}-12", rate=value))
    return points


def _cell(doc: dict[str, Any], shown: int | None, suppressed: bool) -> Cell:
    return Cell(
        active=shown,
        population=doc["population"],
        rate=None if suppressed else doc["rate"],
        suppressed=suppressed,
    )


def _shown(hidden: set[Key], key: Key, n: int) -> tuple[int | None, bool]:
    return (None, True) if key in hidden else (n, False)


def publish(raw: dict[str, Any], hidden: set[Key], k: int, day: Day) -> Kpi:
    """The KPI as served: the cells `hidden` (see DISCLOSURE.md) withheld."""
    m = raw["municipality"]
    active, suppressed = _shown(hidden, ("total", m), raw["national"]["active"])
    breakdowns = {}
    for dimension, cells in raw["breakdowns"].items():
        breakdowns[dimension] = {}
        for value, c in cells.items():
            key = ("total", value) if dimension == "municipality" else (m, dimension, value)
            breakdowns[dimension][value] = _cell(c, *_shown(hidden, key, c["active"]))
    monthly = []
    for month in raw["monthly"]:
        shown, gone = _shown(hidden, (m, "month", month["month"]), month["active"])
        rate = None if gone else month["rate"]
        monthly.append(Month(month=month["month"], active=shown, rate=rate, suppressed=gone))
    t = raw["trajectory"]
    trajectory = Trajectory(
        rate=None if suppressed else t["rate"],
        target_rate=t["target_rate"],
        target_date=t["target_date"],
        months_left=t["months_left"],
        monthly_growth_needed=None if suppressed else t["monthly_growth_needed"],
        on_track=None if suppressed else t["on_track"],
        path=[] if suppressed else required_path(t["rate"], day.until, t["monthly_growth_needed"]),
    )
    hours = raw["hours"]
    if suppressed:  # a withheld group's hours are one of its members' hours, or few
        hours = {**hours, "verified_total": None, "verified_trailing_12m": None,
                 "economic_value": None, "suppressed": True}  # fmt: skip
    return Kpi(
        as_of=day.day.isoformat(),
        data_through=day.through.isoformat(),
        municipality=m,
        min_cell=k,
        national=_cell(raw["national"], active, suppressed),
        breakdowns=breakdowns,
        monthly=monthly,
        hours=Hours(**hours),
        trajectory=trajectory,
    )


async def kpi(
    conn: asyncpg.Connection,
    sources: Sources,
    day: Day,
    *,
    k: int,
    hourly_rate: float,
    municipality: str | None,
) -> Kpi:
    """Compute the KPI of a day in the participation schema and withhold what must be.

    A day of the projection's calendar (Asia/Qatar) is looked up in the projection; in
    another API time zone its end is not a Qatar day's, and the scan answers."""
    async with conn.transaction(readonly=True, isolation="repeatable_read"):
        await conn.execute(f"set local search_path to {sources.q('participation')}")
        if end_of(day.through) == day.until:
            found = await lookup.cells(conn, day.through)
            raw = await lookup.participation_kpi(
                conn, day.through, hourly_rate=hourly_rate, municipality=municipality,
                found=found,
            )  # fmt: skip
            cross = await lookup.cross_tab(conn, day.through, found)
        else:
            raw = await scan.participation_kpi(
                conn, day.until, hourly_rate=hourly_rate, municipality=municipality
            )
            cross = await scan.cross_tab(conn, day.until)
    counts, lines = kpi_family(cross)
    return publish(raw, protect(counts, lines, k), k, day)


PUBLISHED = """
create table if not exists {d}.participation_published (
    dimension text not null, value text not null, active bigint, population bigint,
    rate numeric, suppressed boolean not null, as_of date not null, data_through date not null,
    primary key (dimension, value)
)"""


async def record_for_bi(conn: asyncpg.Connection, sources: Sources, doc: Kpi) -> None:
    """Copy today's national document for the BI views (`participation_published`), so that
    they withhold exactly what the API withholds; nothing when the table does not exist."""
    table = f"{sources.q('dashboard')}.participation_published"
    if doc.municipality or await conn.fetchval("select to_regclass($1)", table) is None:
        return
    day, through = dt.date.fromisoformat(doc.as_of), dt.date.fromisoformat(doc.data_through)
    n = doc.national
    rows = [("national", "all", n.active, n.population, n.rate, n.suppressed)]
    for dimension, cells in doc.breakdowns.items():
        rows += [(dimension, v, c.active, c.population, c.rate, c.suppressed)
                 for v, c in cells.items()]  # fmt: skip
    rows += [("month", m.month, m.active, None, m.rate, m.suppressed) for m in doc.monthly]
    async with conn.transaction():
        await conn.execute(f"delete from {table}")
        await conn.executemany(
            f"insert into {table} values ($1, $2, $3, $4, $5, $6, $7, $8)",
            [(*r, day, through) for r in rows],
        )
