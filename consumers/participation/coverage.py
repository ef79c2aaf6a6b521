"""The pure part of the KPI projection: what one volunteer adds to the day and cell counts.

A volunteer is active on Qatar day D when one of their attended pairs has its activity
time in the trailing 365 days (`rules.py`); with the API's `as_of` at the end of a Qatar
day that is exactly: an activity day (Qatar calendar) in [D - 364, D]. So each activity
day d *covers* the days [d, d + 364], and the volunteer is counted on the union of those
ranges, in the cell of their current profile (municipality, gender, nationality group and
the age band of each calendar year: age = year - birth year, as `age_band()` in SQL).

The counts live in one Fenwick tree (binary indexed tree) per calendar year and cell:
a covered range [s, e] inside a year adds +1 at s and -1 after e, and the number of
volunteers covering D is the prefix sum up to D, i.e. at most 9 nodes per cell to read
and at most 9 per point to write, whatever the history.

The monthly series is counted at the end of each *UTC* month (the scan's definition,
`scan.py`), so UTC activity days are kept too: month M is covered by a UTC day u when
u <= last day of M <= u + 364. Verified hours are kept per Qatar day and municipality.

`contributions(state)` is everything a volunteer adds; a batch writes the difference
between the new and the old contributions of the volunteers it touched, so one fact
arriving late, a moved activity time or a profile change costs a few rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Qatar")  # the calendar of the projection's days
WINDOW_DAYS = 365
YEAR_SIZE = 366  # Fenwick nodes per year: day of year 1..366
CENT = Decimal("0.01")
ONE_DAY = dt.timedelta(days=1)
UNKNOWN = "unknown"
BANDS = ((18, "10-17"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64"))

ActiveKey = tuple[int, int, str, str, str, str]  # year, node, municipality, gender, band, group
MarkKey = tuple[int, dt.date, str, str, str, str]  # year, day, municipality, gender, band, group
MonthKey = tuple[dt.date, str]  # first day of the UTC month, municipality
HoursKey = tuple[dt.date, str]  # Qatar day, municipality


def end_of(day: dt.date) -> dt.datetime:
    """The last microsecond of a Qatar day, in UTC (the scan's `as_of` for that day)."""
    start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ZONE)
    return (start - dt.timedelta(microseconds=1)).astimezone(dt.UTC)


@lru_cache(maxsize=4096)
def age_band(birth_year: int | None, year: int) -> str:
    """The age band in `year` (the SQL function `age_band` of the as-of year)."""
    if birth_year is None:
        return UNKNOWN
    age = year - birth_year
    return next((band for limit, band in BANDS if age < limit), "65+")


def _day_of_year(day: dt.date) -> int:
    return day.toordinal() - dt.date(day.year, 1, 1).toordinal() + 1


@lru_cache(maxsize=4096)
def update_nodes(day: dt.date) -> tuple[int, ...]:
    """The Fenwick nodes a point on `day` adds to (within its year)."""
    i, nodes = _day_of_year(day), []
    while i <= YEAR_SIZE:
        nodes.append(i)
        i += i & -i
    return tuple(nodes)


def prefix_nodes(day: dt.date) -> list[int]:
    """The Fenwick nodes whose sum is the prefix up to `day` (within its year)."""
    i, nodes = _day_of_year(day), []
    while i > 0:
        nodes.append(i)
        i -= i & -i
    return nodes


@dataclass(frozen=True, slots=True)
class Cell:
    """Where a volunteer is counted: their profile as known now (unknown without one)."""

    municipality: str = UNKNOWN
    gender: str = UNKNOWN
    nationality_group: str = UNKNOWN
    birth_year: int | None = None


@dataclass(slots=True)
class VolunteerDays:
    """One volunteer's activity: per Qatar day its attended pairs and verified hours, per
    UTC day its attended pairs, and the cell they are counted in."""

    cell: Cell = field(default_factory=Cell)
    days: dict[dt.date, tuple[int, Decimal]] = field(default_factory=dict)
    utc_days: dict[dt.date, int] = field(default_factory=dict)

    def add(self, qday: dt.date, uday: dt.date, hours: Decimal | None, sign: int) -> None:
        """Count one attended pair in (sign 1) or out (sign -1); empty days disappear."""
        pairs, total = self.days.get(qday, (0, Decimal("0.00")))
        pairs, total = pairs + sign, total + sign * (hours or 0)
        if pairs:
            self.days[qday] = (pairs, total.quantize(CENT))
        else:
            self.days.pop(qday, None)
        left = self.utc_days.get(uday, 0) + sign
        if left:
            self.utc_days[uday] = left
        else:
            self.utc_days.pop(uday, None)


@dataclass(slots=True)
class Delta:
    """Row changes for the count tables, summed over the volunteers of a batch."""

    active: Counter[ActiveKey] = field(default_factory=Counter)
    months: Counter[MonthKey] = field(default_factory=Counter)
    hours: defaultdict[HoursKey, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    totals: defaultdict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))

    def add(self, state: VolunteerDays, sign: int) -> None:
        """Add (sign 1) or take away (sign -1) everything `state` contributes."""
        self._active(state, sign)
        self._months(state, sign)
        self._hours(state, sign)

    def change(self, old: VolunteerDays | None, new: VolunteerDays) -> None:
        """Replace what `old` contributed by what `new` does: only the difference is
        expanded (a new activity day usually moves one range end: two marks, not all)."""
        if old is None:
            self.add(new, 1)
            return
        if old.cell != new.cell or old.days.keys() != new.days.keys():
            marks = range_marks(new)
            marks.subtract(range_marks(old))
            self._marks(marks)
        if old.cell.municipality != new.cell.municipality:
            self._months(old, -1)
            self._months(new, 1)
            self._hours(old, -1)
            self._hours(new, 1)
            return
        municipality = new.cell.municipality
        if old.utc_days.keys() != new.utc_days.keys():
            was, now = month_indexes(old.utc_days), month_indexes(new.utc_days)
            for month in was - now:
                self.months[(_month(month), municipality)] -= 1
            for month in now - was:
                self.months[(_month(month), municipality)] += 1
        if old.days != new.days:
            zero = (0, Decimal(0))
            for day in old.days.keys() | new.days.keys():
                change = new.days.get(day, zero)[1] - old.days.get(day, zero)[1]
                if change:
                    self.hours[(day, municipality)] += change
                    self.totals[municipality] += change

    def _active(self, state: VolunteerDays, sign: int) -> None:
        marks = range_marks(state)
        self._marks(marks if sign == 1 else Counter({k: -n for k, n in marks.items()}))

    def _marks(self, marks: Counter[MarkKey]) -> None:
        """Each mark's count, added at the Fenwick nodes of its day."""
        active = self.active
        for (year, day, *base), n in marks.items():
            if n:
                for node in update_nodes(day):
                    active[(year, node, *base)] += n

    def _months(self, state: VolunteerDays, sign: int) -> None:
        for month in covered_months(state.utc_days):
            self.months[(month, state.cell.municipality)] += sign

    def _hours(self, state: VolunteerDays, sign: int) -> None:
        municipality = state.cell.municipality
        for day, (_, hours) in state.days.items():
            if hours:
                self.hours[(day, municipality)] += sign * hours
                self.totals[municipality] += sign * hours

    def nonzero(self) -> Delta:
        """The same changes without the keys that cancelled out."""
        return Delta(
            Counter({k: v for k, v in self.active.items() if v}),
            Counter({k: v for k, v in self.months.items() if v}),
            defaultdict(Decimal, {k: v for k, v in self.hours.items() if v}),
            defaultdict(Decimal, {k: v for k, v in self.totals.items() if v}),
        )


def range_marks(state: VolunteerDays) -> Counter[MarkKey]:
    """Each covered range of `state` as marks in its cell: +1 on its first day, -1 on the
    day after its last (none when that falls in the next year: each year is its own tree)."""
    cell, marks = state.cell, Counter[MarkKey]()
    for year, start, end in covered_ranges(state.days):
        base = (cell.municipality, cell.gender, age_band(cell.birth_year, year),
                cell.nationality_group)  # fmt: skip
        marks[(year, start, *base)] += 1
        after = end + ONE_DAY
        if after.year == year:
            marks[(year, after, *base)] -= 1
    return marks


def covered_ranges(days: dict[dt.date, object]) -> list[tuple[int, dt.date, dt.date]]:
    """(year, first, last) of the days covered by activity on `days`, cut at year ends."""
    merged: list[list[int]] = []  # [first, last] as ordinals
    reach = WINDOW_DAYS - 1
    for day in sorted(d.toordinal() for d in days):
        if merged and day <= merged[-1][1] + 1:
            if day + reach > merged[-1][1]:
                merged[-1][1] = day + reach
        else:
            merged.append([day, day + reach])
    ranges = []
    for first, last in merged:
        start, end = dt.date.fromordinal(first), dt.date.fromordinal(last)
        for year in range(start.year, end.year + 1):
            ranges.append((year, max(start, dt.date(year, 1, 1)), min(end, dt.date(year, 12, 31))))
    return ranges


@lru_cache(maxsize=8192)
def _month(index: int) -> dt.date:
    return dt.date(index // 12, index % 12 + 1, 1)


@lru_cache(maxsize=8192)
def _month_span(day: dt.date) -> tuple[int, int]:
    """The month indexes (year * 12 + month - 1) whose end a UTC day `day` covers."""
    end = day + dt.timedelta(days=WINDOW_DAYS - 1)
    last = end.year * 12 + end.month - 1  # the month of u + 364, if it ends by then
    if (end + ONE_DAY).day != 1:
        last -= 1
    return day.year * 12 + day.month - 1, last


def month_indexes(utc_days: dict[dt.date, int]) -> set[int]:
    """`covered_months` as month indexes, from the merged spans of the days."""
    months: set[int] = set()
    low = high = None
    for first, last in sorted({_month_span(day) for day in utc_days}):
        if high is not None and first <= high + 1:
            high = max(high, last)
            continue
        if low is not None:
            months.update(range(low, high + 1))  # type: ignore[operator]
        low, high = first, last
    if low is not None:
        months.update(range(low, high + 1))  # type: ignore[operator]
    return months


def covered_months(utc_days: dict[dt.date, int]) -> set[dt.date]:
    """The UTC months (first days) at whose end a volunteer with these UTC days is active:
    month M is covered by day u when u <= last day of M <= u + 364."""
    return {_month(m) for m in month_indexes(utc_days)}
