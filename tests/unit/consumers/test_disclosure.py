"""The pure disclosure control: as_of days, primary and complementary suppression.

The audit of `protect` is checked against an independent criterion: in a two-way table
with its margins, a withheld cell is fixed by the shown ones exactly when it is a bridge
of the graph whose nodes are the table's lines and whose edges are the withheld cells
(rows and columns are conserved like flows; a cell on a cycle of withheld cells can move
by one around the cycle without changing any shown figure).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.api.days import counted, end_of, parse_day
from consumers.api.http import Problem
from consumers.api.suppression import Cell, Line, determined, protect, publish

NOW = dt.datetime(2026, 11, 30, 22, 30, tzinfo=dt.UTC)  # 01:30 on 1 December in Qatar
QATAR = "Asia/Qatar"


def table(rows: list[list[int]]) -> tuple[dict[tuple[int, int], int], list[Line]]:
    """A two-way table with its margins (row R and column C) and the lines between them."""
    r, c = len(rows), len(rows[0])
    counts = {(i, j): n for i, row in enumerate(rows) for j, n in enumerate(row)}
    for i in range(r):
        counts[(i, c)] = sum(rows[i])
    for j in range(c + 1):
        counts[(r, j)] = sum(counts[(i, j)] for i in range(r))
    lines = [Line((i, c), tuple((i, j) for j in range(c))) for i in range(r + 1)]
    lines += [Line((r, j), tuple((i, j) for i in range(r))) for j in range(c + 1)]
    return counts, lines


def bridges(hidden: set[tuple[int, int]]) -> set[tuple[int, int]]:
    """Withheld cells whose row and column nodes are linked by no other withheld cells."""
    found = set()
    for cell in hidden:
        graph: dict[str, set[str]] = defaultdict(set)
        for i, j in hidden - {cell}:
            graph[f"r{i}"].add(f"c{j}")
            graph[f"c{j}"].add(f"r{i}")
        start, goal = f"r{cell[0]}", f"c{cell[1]}"
        seen, todo = {start}, [start]
        while todo:
            for nxt in graph[todo.pop()] - seen:
                seen.add(nxt)
                todo.append(nxt)
        if goal not in seen:
            found.add(cell)
    return found


grids = st.integers(2, 4).flatmap(
    lambda r: st.integers(2, 4).flatmap(
        lambda c: st.lists(
            st.lists(
                st.sampled_from([0, 0, 1, 2, 3, 5, 8, 9, 10, 12, 20, 40]), min_size=c, max_size=c
            ),
            min_size=r,
            max_size=r,
        )
    )
)


@settings(max_examples=300, deadline=None)
@given(rows=grids, k=st.integers(2, 11))
def test_no_withheld_cell_of_any_table_can_be_derived(rows: list[list[int]], k: int) -> None:
    """For any table: every count 1..k-1 is withheld, no withheld cell is fixed by the shown
    ones (independent bridge criterion), and where a total is shown its withheld parts hold
    at least k together and are two or more."""
    counts, lines = table(rows)
    hidden = protect(counts, lines, k)
    assert {key for key, n in counts.items() if 0 < n < k} <= hidden
    assert bridges(hidden) == set()
    assert determined(lines, hidden) == set()
    for line in lines:
        parts = [p for p in line.parts if p in hidden]
        if line.total not in hidden and parts:
            assert len(parts) >= 2
            assert sum(counts[p] for p in parts) >= k
    assert all(counts[key] > 0 for key in hidden), "zero describes nobody: never withheld"


def test_one_small_cell_drags_the_next_smallest_with_it() -> None:
    """A lone withheld cell would be the total minus the rest, so the smallest other goes too."""
    counts = {"t": 68, "a": 3, "b": 40, "c": 25, "d": 0}
    cells = publish(counts, [Line("t", ("a", "b", "c", "d"))], k=10)
    assert cells == {"t": Cell(68, False), "a": Cell(None, True), "b": Cell(40, False),
                     "c": Cell(None, True), "d": Cell(0, False)}  # fmt: skip


def test_two_withheld_ones_under_a_shown_total_drag_a_third() -> None:
    """1 and 1 withheld under a shown total would both read as 1 (withheld means at least 1)."""
    counts = {"t": 32, "a": 1, "b": 1, "c": 30}
    assert protect(counts, [Line("t", ("a", "b", "c"))], k=10) == {"a", "b", "c"}


def test_a_filter_cell_is_protected_in_its_column_as_well_as_its_row() -> None:
    """The classic two-way case: one small cell needs a complement in its row, its column,
    and the cell closing the rectangle."""
    counts, lines = table([[3, 20, 30], [15, 25, 40]])
    assert protect(counts, lines, k=10) == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_as_of_is_a_qatar_day_and_finer_values_are_refused() -> None:
    """Default today in Qatar; instants, future days and garbage are 422 problems."""
    assert parse_day(None, QATAR, NOW) == dt.date(2026, 12, 1)
    assert parse_day("2026-12-01", QATAR, NOW) == dt.date(2026, 12, 1)
    for bad in ("2026-12-01T00:00:00Z", "2026-12-02", "2026-13-01", "soon", "1999-12-31"):
        with pytest.raises(Problem) as refused:
            parse_day(bad, QATAR, NOW)
        assert refused.value.status == 422
        assert refused.value.errors[0]["path"] == "query.as_of"


def test_a_day_counts_to_its_end_and_today_counts_complete_days_only() -> None:
    """Day D ends at 21:00 UTC (midnight in Qatar); today is counted through yesterday."""
    past = counted(dt.date(2026, 11, 20), QATAR, NOW)
    assert past.through == dt.date(2026, 11, 20)
    assert past.until == dt.datetime(2026, 11, 20, 20, 59, 59, 999999, tzinfo=dt.UTC)
    current = counted(dt.date(2026, 12, 1), QATAR, NOW)
    assert current.through == dt.date(2026, 11, 30)
    assert current.until == end_of(dt.date(2026, 11, 30), QATAR)
