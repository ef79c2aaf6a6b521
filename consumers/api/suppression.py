"""Small-cell and complementary suppression over a family of linked tables.

The policy (why, and what it guarantees) is in `DISCLOSURE.md` next to this module.
Here: the mechanism. A family of published counts is a set of cells (counts of
distinct volunteers, keyed by anything hashable) and the additive relations a reader
knows between them (`Line`: a total equals the sum of its parts). `protect` returns
the cells to withhold:

1. primary: every count n with 0 < n < k (zero is shown: it describes nobody);
2. complementary, per line: a line with a withheld cell withholds at least two, and
   when its total is shown the withheld parts hold at least k volunteers together (else
   two withheld 1s summing to a shown 2 would both be read as 1); each time the smallest
   shown non-zero cell of the line is added;
3. audit: the relations are solved for the withheld cells (exact Gaussian elimination
   over the rationals); any withheld cell the shown ones determine exactly gets one more
   complement in a line through it, until none is determined.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

Key = Hashable


@dataclass(frozen=True)
class Cell:
    """A count as published: the value, or None when withheld."""

    value: int | None
    suppressed: bool


@dataclass(frozen=True)
class Line:
    """A relation a reader knows: `total` is the sum of `parts`."""

    total: Key
    parts: tuple[Key, ...]

    @property
    def cells(self) -> tuple[Key, ...]:
        return (self.total, *self.parts)


def is_small(n: int, k: int) -> bool:
    """True when a count is small enough to single someone out."""
    return 0 < n < k


def protect(counts: Mapping[Key, int], lines: Sequence[Line], k: int) -> set[Key]:
    """The cells to withhold so that no small count can be read or derived."""
    hidden = {key for key, n in counts.items() if is_small(n, k)}
    while True:
        extra = _weak_line(counts, lines, hidden, k)
        if extra is None:
            extra = _audit(counts, lines, hidden)
        if extra is None:
            return hidden
        hidden.add(extra)


def publish(counts: Mapping[Key, int], lines: Sequence[Line], k: int) -> dict[Key, Cell]:
    """Every cell as published under `protect`."""
    hidden = protect(counts, lines, k)
    return {key: Cell(None, True) if key in hidden else Cell(n, False) for key, n in counts.items()}


def _complement(counts: Mapping[Key, int], line: Line, hidden: set[Key]) -> Key | None:
    """The smallest shown non-zero cell of a line, parts before the total."""
    shown = [
        (key == line.total, counts.get(key, 0), repr(key), key)
        for key in line.cells
        if key not in hidden and counts.get(key, 0) > 0
    ]
    return min(shown, key=lambda s: s[:3])[3] if shown else None


def _weak_line(
    counts: Mapping[Key, int], lines: Sequence[Line], hidden: set[Key], k: int
) -> Key | None:
    for line in lines:
        withheld = [key for key in line.cells if key in hidden]
        if not withheld:
            continue
        held = sum(counts.get(key, 0) for key in line.parts if key in hidden)
        if len(withheld) == 1 or (line.total not in hidden and held < k):
            extra = _complement(counts, line, hidden)
            if extra is not None:
                return extra
    return None


def determined(lines: Sequence[Line], hidden: set[Key]) -> set[Key]:
    """Withheld cells that the shown cells and the lines fix exactly (linear algebra)."""
    order = sorted({key for line in lines for key in line.cells if key in hidden}, key=repr)
    column = {key: i for i, key in enumerate(order)}
    rows: list[dict[int, Fraction]] = []
    for line in lines:
        row: dict[int, Fraction] = {}
        for key, sign in [(line.total, 1), *((p, -1) for p in line.parts)]:
            if key in column:
                row[column[key]] = row.get(column[key], Fraction(0)) + sign
        row = {c: v for c, v in row.items() if v}
        if row:
            rows.append(row)
    reduced: list[dict[int, Fraction]] = []  # reduced row echelon form, pivot = min column
    for row in rows:
        for pivot_row in reduced:
            pivot = min(pivot_row)
            if pivot in row:
                factor = row[pivot]
                for c, v in pivot_row.items():
                    row[c] = row.get(c, Fraction(0)) - factor * v
                row = {c: v for c, v in row.items() if v}
        if not row:
            continue
        pivot = min(row)
        row = {c: v / row[pivot] for c, v in row.items()}
        for other in reduced:
            if pivot in other:
                factor = other[pivot]
                for c, v in row.items():
                    other[c] = other.get(c, Fraction(0)) - factor * v
                for c in [c for c, v in other.items() if not v]:
                    del other[c]
        reduced.append(row)
    return {order[next(iter(row))] for row in reduced if len(row) == 1}


def _audit(counts: Mapping[Key, int], lines: Sequence[Line], hidden: set[Key]) -> Key | None:
    exposed = sorted(determined(lines, hidden), key=repr)
    for key in exposed:
        for line in lines:
            if key in line.cells:
                extra = _complement(counts, line, hidden)
                if extra is not None:
                    return extra
    if exposed:  # every line through it is withheld or zero: widen anywhere
        shown = [(n, repr(c), c) for c, n in counts.items() if c not in hidden and n > 0]
        return min(shown)[2] if shown else None
    return None
