"""Small-cell suppression: no published count of distinct volunteers can single anyone out.

Rule (the same in the API and in the `dashboard` SQL views):
- primary: a count n with 0 < n < k is withheld (served as null, `suppressed: true`);
  zero is shown, since it describes nobody;
- secondary: the breakdowns of one dimension add up to the published total, so when a
  dimension has exactly one primary-suppressed cell, the smallest other non-zero cell is
  withheld too; otherwise the hidden one would be the total minus the rest.
Populations are public statistics and are always shown; a withheld count withholds
its rate too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Cell:
    """A count as published: the value, or None when withheld."""

    value: int | None
    suppressed: bool


def is_small(n: int, k: int) -> bool:
    """True when a count is small enough to single someone out."""
    return 0 < n < k


def suppress_one(n: int, k: int) -> Cell:
    """A lone count (a total, a month) with the primary rule only."""
    return Cell(None, True) if is_small(n, k) else Cell(n, False)


def suppress_cells(counts: Mapping[str, int], k: int) -> dict[str, Cell]:
    """The cells of one dimension with primary and secondary suppression."""
    hidden = {key for key, n in counts.items() if is_small(n, k)}
    if len(hidden) == 1:
        others = sorted((n, key) for key, n in counts.items() if key not in hidden and n > 0)
        if others:
            hidden.add(others[0][1])
    return {key: Cell(None, True) if key in hidden else Cell(n, False) for key, n in counts.items()}
