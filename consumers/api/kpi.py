"""The public KPI document: the participation read model's KPI, with small cells withheld."""

from __future__ import annotations

import datetime as dt
from typing import Any

import asyncpg

from consumers.api.models import Cell, Hours, Kpi, Month, PathPoint, Trajectory
from consumers.api.sources import Sources
from consumers.api.suppression import suppress_cells, suppress_one
from consumers.participation.kpi import TARGET_DATE, participation_kpi


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


def publish(raw: dict[str, Any], k: int, as_of: dt.datetime) -> Kpi:
    """The KPI as served: every count of distinct volunteers below k withheld."""
    national = suppress_one(raw["national"]["active"], k)
    breakdowns = {}
    for dimension, cells in raw["breakdowns"].items():
        shown = suppress_cells({value: c["active"] for value, c in cells.items()}, k)
        breakdowns[dimension] = {
            value: _cell(c, shown[value].value, shown[value].suppressed)
            for value, c in cells.items()
        }
    monthly = []
    for m in raw["monthly"]:
        cell = suppress_one(m["active"], k)
        monthly.append(
            Month(
                month=m["month"],
                active=cell.value,
                rate=None if cell.suppressed else m["rate"],
                suppressed=cell.suppressed,
            )
        )
    t = raw["trajectory"]
    hidden = national.suppressed
    trajectory = Trajectory(
        rate=None if hidden else t["rate"],
        target_rate=t["target_rate"],
        target_date=t["target_date"],
        months_left=t["months_left"],
        monthly_growth_needed=None if hidden else t["monthly_growth_needed"],
        on_track=None if hidden else t["on_track"],
        path=[] if hidden else required_path(t["rate"], as_of, t["monthly_growth_needed"]),
    )
    return Kpi(
        as_of=raw["as_of"],
        municipality=raw["municipality"],
        min_cell=k,
        national=_cell(raw["national"], national.value, national.suppressed),
        breakdowns=breakdowns,
        monthly=monthly,
        hours=Hours(**raw["hours"]),
        trajectory=trajectory,
    )


async def kpi(
    conn: asyncpg.Connection,
    sources: Sources,
    as_of: dt.datetime,
    *,
    k: int,
    hourly_rate: float,
    municipality: str | None,
) -> Kpi:
    """Compute the KPI in the participation schema and withhold small cells."""
    async with conn.transaction(readonly=True):
        await conn.execute(f"set local search_path to {sources.q('participation')}")
        raw = await participation_kpi(
            conn, as_of, hourly_rate=hourly_rate, municipality=municipality
        )
    return publish(raw, k, as_of)
