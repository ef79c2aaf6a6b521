"""The KPI's published cells as one linked family, so every filter is protected at once.

A reader can fetch the national KPI and the KPI under each `?municipality=` for the
same day, and these documents are tied by sums: the municipality totals add up to the
national one; within each municipality (and nationally) the cells of every dimension
add up to its total; each national cell of a dimension is the sum of that cell across
municipalities; each month of the national series is the sum of the municipalities'
months; the last month equals the total. `kpi_family` states all of them, over the
cross-tabulation of one day, and `consumers.api.suppression.protect` withholds cells
until no small one can be read or derived from any combination of those documents.
Keys: ("total", m) for a municipality's (or, m = None, the nation's) active volunteers,
(m, dimension, value) for a breakdown cell, (m, "month", "YYYY-MM") for the series.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from consumers.api.suppression import Key, Line
from schemas.common import Municipality

DIMENSIONS = ("gender", "age_band", "nationality_group")


def kpi_family(cross: dict[str, Any]) -> tuple[dict[Key, int], list[Line]]:
    """Counts and relations of every KPI document of one day (see the module docstring)."""
    counts: dict[Key, int] = defaultdict(int)
    munis = {m.value for m in Municipality}
    values: dict[str, set[str]] = {d: set() for d in DIMENSIONS}
    for cell in cross["cells"]:
        m, n = cell["municipality"], cell["active"]
        munis.add(m)
        counts[("total", m)] += n
        counts[("total", None)] += n
        for d in DIMENSIONS:
            values[d].add(cell[d])
            counts[(m, d, cell[d])] += n
            counts[(None, d, cell[d])] += n
    months = sorted({r["month"] for r in cross["monthly"]})
    for r in cross["monthly"]:
        munis.add(r["municipality"])
        counts[(r["municipality"], "month", r["month"])] += r["active"]
        counts[(None, "month", r["month"])] += r["active"]
    rows: list[str | None] = [*sorted(munis), None]
    lines = [Line(("total", None), tuple(("total", m) for m in rows[:-1]))]
    for d in DIMENSIONS:
        ordered = sorted(values[d])
        lines += [Line(("total", m), tuple((m, d, v) for v in ordered)) for m in rows]
        lines += [Line((None, d, v), tuple((m, d, v) for m in rows[:-1])) for v in ordered]
    for month in months:
        lines.append(Line((None, "month", month), tuple((m, "month", month) for m in rows[:-1])))
    if months:  # the series ends at as_of: its last point is the total again
        lines += [Line((m, "month", months[-1]), (("total", m),)) for m in rows]
    return dict(counts), lines
