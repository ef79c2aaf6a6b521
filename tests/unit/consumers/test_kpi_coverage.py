"""The KPI projection's pure part against brute force: coverage, Fenwick sums, months."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

import pytest

from consumers.participation.coverage import (
    Cell,
    Delta,
    VolunteerDays,
    age_band,
    covered_months,
    prefix_nodes,
)

ONE = dt.timedelta(days=1)


def random_days(rng: random.Random) -> list[dt.date]:
    start = dt.date(2023, 1, 1)
    return [start + dt.timedelta(days=rng.randrange(900)) for _ in range(rng.randint(1, 8))]


@pytest.mark.parametrize("seed", range(20))
def test_fenwick_sums_count_a_volunteer_exactly_on_the_days_covered(seed: int) -> None:
    """Day D counts the volunteer once when an activity day lies in [D - 364, D], else 0."""
    rng = random.Random(seed)
    days = random_days(rng)
    state = VolunteerDays(Cell("doha", "female", "qatari", 1990))
    for day in days:
        state.add(day, day, None, 1)
    delta = Delta()
    delta.add(state, 1)
    day = min(days) - 3 * ONE
    while day < max(days) + 370 * ONE:
        counted = sum(
            n for (year, node, *_), n in delta.active.items()
            if year == day.year and node in prefix_nodes(day)
        )  # fmt: skip
        covered = any(d <= day <= d + 364 * ONE for d in days)
        assert counted == int(covered), day
        day += ONE


@pytest.mark.parametrize("seed", range(20))
def test_covered_months_are_the_utc_month_ends_within_365_days(seed: int) -> None:
    rng = random.Random(seed)
    days = random_days(rng)
    month, expected = dt.date(2022, 12, 1), set()
    while month < dt.date(2027, 1, 1):
        following = (month + 32 * ONE).replace(day=1)
        last = following - ONE
        if any(d <= last <= d + 364 * ONE for d in days):
            expected.add(month)
        month = following
    assert covered_months(dict.fromkeys(days, 1)) == expected


def test_a_pair_counted_in_and_out_leaves_nothing() -> None:
    """Days and hours go back to empty; the deltas of equal states cancel out."""
    state = VolunteerDays()
    day = dt.date(2025, 3, 1)
    state.add(day, day, Decimal("2.50"), 1)
    state.add(day, day, None, 1)
    assert state.days == {day: (2, Decimal("2.50"))}
    state.add(day, day, Decimal("2.50"), -1)
    state.add(day, day, None, -1)
    assert state.days == {}
    assert state.utc_days == {}
    delta = Delta()
    other = VolunteerDays(days={day: (1, Decimal("1.00"))}, utc_days={day: 1})
    delta.add(other, 1)
    delta.add(other, -1)
    nonzero = delta.nonzero()
    assert not nonzero.active
    assert not nonzero.months
    assert not nonzero.hours
    assert not nonzero.totals


@pytest.mark.parametrize(
    ("birth_year", "year", "band"),
    [(None, 2025, "unknown"), (2015, 2025, "10-17"), (2008, 2025, "10-17"),
     (2008, 2026, "18-24"), (2001, 2025, "18-24"), (2000, 2025, "25-34"),
     (1961, 2025, "55-64"), (1960, 2025, "65+")],
)  # fmt: skip
def test_age_band_is_the_sql_function_of_the_as_of_year(
    birth_year: int | None, year: int, band: str
) -> None:
    assert age_band(birth_year, year) == band


def random_state(rng: random.Random) -> VolunteerDays:
    cell = Cell(rng.choice(["doha", "al-rayyan"]), rng.choice(["female", "male"]),
                rng.choice(["qatari", "other"]), rng.choice([None, 1960, 1990, 2008]))  # fmt: skip
    state = VolunteerDays(cell)
    for day in random_days(rng):
        hours = rng.choice([None, Decimal("1.50"), Decimal("4.00")])
        state.add(day, day + ONE * rng.choice([-1, 0, 0, 1]), hours, 1)
    return state


def edited(rng: random.Random, old: VolunteerDays) -> VolunteerDays:
    """`old` after what one batch may do: a pair in or out, hours corrected, a new profile."""
    new = VolunteerDays(old.cell, dict(old.days), dict(old.utc_days))
    for _ in range(rng.randint(1, 3)):
        edit = rng.randrange(4)
        if edit == 0 or not new.days:
            day = rng.choice([*new.days, dt.date(2024, 6, 1)]) + ONE * rng.randrange(-40, 400)
            new.add(day, day, rng.choice([None, Decimal("2.00")]), 1)
        elif edit == 1:
            new.days.pop(rng.choice(sorted(new.days)))
            if new.utc_days:
                new.utc_days.pop(rng.choice(sorted(new.utc_days)))
        elif edit == 2:
            day = rng.choice(sorted(new.days))
            new.days[day] = (new.days[day][0], new.days[day][1] + Decimal("0.50"))
        else:
            new.cell = random_state(rng).cell
    return new


@pytest.mark.parametrize("seed", range(200))
def test_a_change_writes_exactly_the_old_contribution_out_and_the_new_one_in(seed: int) -> None:
    """`change` expands only the difference; it must equal taking `old` out and `new` in."""
    rng = random.Random(seed)
    old = random_state(rng)
    new = edited(rng, old)
    reference, changed = Delta(), Delta()
    reference.add(old, -1)
    reference.add(new, 1)
    changed.change(old, new)
    assert changed.nonzero() == reference.nonzero()
    first = Delta()
    first.change(None, new)
    assert first.nonzero() == Delta(*_added(new)).nonzero()


def _added(state: VolunteerDays) -> tuple[object, ...]:
    delta = Delta()
    delta.add(state, 1)
    return delta.active, delta.months, delta.hours, delta.totals
