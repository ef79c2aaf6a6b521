"""How much volunteering a nation does, and when: the simulator's calibrated defaults.

Every figure is stated with its source in `producers/simulator/README.md`. The national
intensity comes from the Saudi national volunteering platform's annual figures (about 59
million verified hours from about 1 million volunteers in a year: ~59 hours and ~15
shifts each); seasonality follows the calendar: Ramadan (a table of Umm al-Qura start
dates, the mean lunar year outside it), Qatar National Day (18 December), National Sport
Day (second Tuesday of February), the Friday-Saturday weekend and the summer lull. Each
calendar year's factors are scaled to average 1, so the yearly totals stay calibrated
whatever the season mix of the simulated window.
"""

from __future__ import annotations

import datetime as dt
import functools

HOURS_PER_ACTIVE_YEAR = 59.0  # verified hours per active volunteer per year
SHIFTS_PER_ACTIVE_YEAR = 15.0  # shifts attended per active volunteer per year
ACTIVE_SHARE = 0.5  # registered volunteers who take part in a year (an assumption)
MEAN_SHIFT_HOURS = 4.0  # shifts last 2 to 6 whole hours

# First day of Ramadan (Umm al-Qura calendar, as announced in Qatar), 1436-1457 AH.
RAMADAN_STARTS = {
    2015: (dt.date(2015, 6, 18),), 2016: (dt.date(2016, 6, 6),),
    2017: (dt.date(2017, 5, 27),), 2018: (dt.date(2018, 5, 17),),
    2019: (dt.date(2019, 5, 6),), 2020: (dt.date(2020, 4, 24),),
    2021: (dt.date(2021, 4, 13),), 2022: (dt.date(2022, 4, 2),),
    2023: (dt.date(2023, 3, 23),), 2024: (dt.date(2024, 3, 11),),
    2025: (dt.date(2025, 3, 1),), 2026: (dt.date(2026, 2, 18),),
    2027: (dt.date(2027, 2, 8),), 2028: (dt.date(2028, 1, 28),),
    2029: (dt.date(2029, 1, 16),), 2030: (dt.date(2030, 1, 6), dt.date(2030, 12, 26)),
    2031: (dt.date(2031, 12, 15),), 2032: (dt.date(2032, 12, 4),),
    2033: (dt.date(2033, 11, 23),), 2034: (dt.date(2034, 11, 12),),
    2035: (dt.date(2035, 11, 1),),
}  # fmt: skip
RAMADAN_ANCHOR = dt.date(2025, 3, 1)  # 1 Ramadan 1446
LUNAR_YEAR_DAYS = 354.36707  # the mean Islamic (tabular) year
RAMADAN_DAYS = 30

RAMADAN_FACTOR = 1.6  # iftar tents, food baskets, mosque and charity drives
NATIONAL_DAY_FACTOR = 3.0  # 18 December: Darb Al Saai, parades, public events
SPORT_DAY_FACTOR = 3.0  # second Tuesday of February: a public holiday of mass sport events
WEEKEND_FACTOR = 1.3  # Friday and Saturday
SUMMER_FACTOR = 0.7  # 15 June to 31 August: heat and travel
FRIDAY, SATURDAY, TUESDAY = 4, 5, 1


def ramadan_starts(year: int) -> tuple[dt.date, ...]:
    """The first days of Ramadan that fall in `year` (the table, else the mean lunar year)."""
    return RAMADAN_STARTS.get(year) or estimated_ramadan_starts(year)


def estimated_ramadan_starts(year: int) -> tuple[dt.date, ...]:
    """Ramadan starts in `year` counted in mean lunar years from 1 Ramadan 1446 (within a
    day of the Umm al-Qura table for 2015-2035)."""
    first = (year - RAMADAN_ANCHOR.year - 1) * 365.2425 / LUNAR_YEAR_DAYS
    starts = []
    for k in range(int(first) - 1, int(first) + 4):
        day = RAMADAN_ANCHOR + dt.timedelta(days=round(k * LUNAR_YEAR_DAYS))
        if day.year == year:
            starts.append(day)
    return tuple(starts)


def in_ramadan(day: dt.date) -> bool:
    """Whether `day` falls in Ramadan (30 days from a start, this year's or last year's)."""
    for year in (day.year - 1, day.year):
        for start in ramadan_starts(year):
            if 0 <= (day - start).days < RAMADAN_DAYS:
                return True
    return False


def sport_day(year: int) -> dt.date:
    """Qatar's National Sport Day: the second Tuesday of February."""
    first = dt.date(year, 2, 1)
    return first + dt.timedelta(days=(TUESDAY - first.weekday()) % 7 + 7)


def raw_factor(day: dt.date) -> float:
    """The unscaled seasonal weight of one calendar day."""
    factor = 1.0
    if in_ramadan(day):
        factor *= RAMADAN_FACTOR
    if (day.month, day.day) == (12, 18):
        factor *= NATIONAL_DAY_FACTOR
    if day == sport_day(day.year):
        factor *= SPORT_DAY_FACTOR
    if day.weekday() in (FRIDAY, SATURDAY):
        factor *= WEEKEND_FACTOR
    if (6, 15) <= (day.month, day.day) <= (8, 31):
        factor *= SUMMER_FACTOR
    return factor


@functools.lru_cache(maxsize=64)
def _year_scale(year: int) -> float:
    first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
    days = (last - first).days + 1
    total = sum(raw_factor(first + dt.timedelta(days=i)) for i in range(days))
    return days / total


def season_factor(day: dt.date) -> float:
    """How busy `day` is relative to the year's average day (each year averages 1)."""
    return raw_factor(day) * _year_scale(day.year)
