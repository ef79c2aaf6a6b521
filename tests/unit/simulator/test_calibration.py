"""The calibrated defaults: national intensity, the active share, and the year's seasons."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from statistics import mean
from typing import Any

import pytest

from producers.simulator import SimConfig
from producers.simulator import calibration as cal
from producers.simulator.stream import Stream

YEAR = 2025
CONFIG = SimConfig(seed=3, volunteers=3_000, days=365, until=dt.date(YEAR, 12, 31))


@pytest.fixture(scope="module")
def year() -> tuple[dict[str, Any], Counter[dt.date]]:
    """A calibrated year (3,000 volunteers, 2025): its truth and its sign-ups by shift day."""
    stream = Stream(CONFIG)
    for _event in stream.events():
        pass
    sections = stream.tally.sections({})
    sections["volunteers"] = stream.tally.volunteer_totals()
    by_day: Counter[dt.date] = Counter()
    signups = stream.tally.opp_counts.columns[0]
    for j, day in enumerate(stream.tally.opp_day):
        by_day[dt.date(1970, 1, 1) + dt.timedelta(days=day)] += signups[j]
    return sections, by_day


def test_ramadan_table_and_the_lunar_approximation_agree_within_a_day() -> None:
    """Each tabled start is within a day of the mean-lunar-year estimate; years outside it
    still get one start (two in 2030)."""
    for year, starts in cal.RAMADAN_STARTS.items():
        estimated = cal.estimated_ramadan_starts(year)
        assert len(estimated) == len(starts), year
        assert all(abs((a - b).days) <= 1 for a, b in zip(starts, estimated, strict=True)), year
    assert len(cal.ramadan_starts(2040)) == 1
    assert cal.in_ramadan(dt.date(2025, 3, 15))
    assert not cal.in_ramadan(dt.date(2025, 4, 15))


def test_national_days_fall_where_the_calendar_puts_them() -> None:
    """Sport Day is the second Tuesday of February; every year's factors average exactly 1."""
    assert cal.sport_day(2025) == dt.date(2025, 2, 11)
    assert cal.sport_day(2026) == dt.date(2026, 2, 10)
    for year in (2024, 2025, 2030):
        days = [
            dt.date(year, 1, 1) + dt.timedelta(days=i) for i in range(366 if year == 2024 else 365)
        ]
        assert mean(cal.season_factor(day) for day in days) == pytest.approx(1.0)
    assert cal.season_factor(dt.date(2025, 12, 18)) > 2 * cal.season_factor(dt.date(2025, 12, 10))


def test_a_calibrated_year_gives_the_national_hours_shifts_and_active_share(
    year: tuple[dict[str, Any], Counter[dt.date]],
) -> None:
    """~59 verified hours and ~15 attended shifts per active volunteer; about half active."""
    truth, _by_day = year
    kpi = truth["participation"]
    active = kpi["active"]
    assert 0.42 <= active / CONFIG.volunteers <= 0.55
    assert 50 <= kpi["verified_hours_trailing_12m"] / active <= 68
    assert 12 <= truth["volunteers"]["attended_pairs"] / active <= 20


def test_ramadan_and_the_national_days_stand_out_in_a_calibrated_year(
    year: tuple[dict[str, Any], Counter[dt.date]],
) -> None:
    """Sign-ups per shift day: Ramadan above an ordinary spring month, National Day and
    Sport Day well above the fortnight around them."""
    _truth, by_day = year

    def average(first: dt.date, days: int, skip: dt.date | None = None) -> float:
        span = [first + dt.timedelta(days=i) for i in range(days)]
        return mean(by_day[d] for d in span if d != skip)

    ramadan = average(dt.date(YEAR, 3, 1), 30)
    april_may = average(dt.date(YEAR, 4, 10), 40)
    assert ramadan > 1.3 * april_may
    national, sport = dt.date(YEAR, 12, 18), cal.sport_day(YEAR)
    assert by_day[national] > 2 * average(national - dt.timedelta(days=7), 15, skip=national)
    assert by_day[sport] > 2 * average(sport - dt.timedelta(days=7), 15, skip=sport)


def test_a_config_with_no_intensity_or_an_impossible_share_is_refused() -> None:
    """SimConfig names the field and the value it refuses."""
    with pytest.raises(ValueError, match="intensity must be positive"):
        SimConfig(intensity=0)
    with pytest.raises(ValueError, match="active_share must be in"):
        SimConfig(active_share=1.2)
