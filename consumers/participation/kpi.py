"""The national participation KPI's document and math, whatever computed its inputs.

The KPI answers "what share of the eligible population
volunteered in the 12 months before as_of", nationally and by municipality, gender,
age band and nationality group, with the monthly series and the trajectory to the
national target (10% by the end of 2030). Rules: see `rules.py`. Its inputs come from
the projection (`lookup.py`, what the API serves) or from scans (`scan.py`, the
reference the projection must equal).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

TARGET_RATE = 0.10
TARGET_DATE = dt.datetime(2030, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
WINDOW = dt.timedelta(days=365)
DIMENSIONS = ("municipality", "gender", "age_band", "nationality_group")


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


@dataclass(frozen=True)
class Inputs:
    """What the KPI document is made of, however it was obtained (scan or projection)."""

    cells: list[dict[str, Any]]  # municipality, gender, age_band, nationality_group, active
    population: list[dict[str, Any]]  # the population table's rows
    monthly: list[tuple[str, int]]  # (YYYY-MM, active at the month's end or at as_of)
    hours_total: float
    hours_trailing: float


def document(
    inputs: Inputs, as_of: dt.datetime, *, hourly_rate: float, municipality: str | None
) -> dict[str, Any]:
    """The KPI document the read API serves (aggregates only, no personal data)."""
    cells, population = inputs.cells, inputs.population
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
            {"month": month, "active": n, "rate": _rate(n, total_population)}
            for month, n in inputs.monthly
        ],
        "hours": {
            "verified_total": round(inputs.hours_total, 2),
            "verified_trailing_12m": round(inputs.hours_trailing, 2),
            "hourly_rate": hourly_rate,
            "economic_value": round(inputs.hours_total * hourly_rate, 2),
        },
        "trajectory": trajectory(rate, as_of).as_dict(),
    }
