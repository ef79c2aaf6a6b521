"""Hypothesis strategies for delivering a world: orders, batch cuts and a redelivery.

A world comes from `facts.worlds`; a `Run` is one way a consumer may see it (any order,
any batching, one batch delivered again), as Kafka allows across partitions and restarts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from schemas.envelope import Event
from tests.integration.ordering.facts import worlds


@dataclass(frozen=True)
class Run:
    """One way to deliver a world: an order, cut into batches, and a batch delivered twice."""

    order: tuple[int, ...]
    cuts: tuple[bool, ...]  # cuts[i]: a batch ends after the i-th event of `order`
    redeliver: int  # which batch (modulo their number) is delivered again at the end

    def batches(self, events: list[Event[Any]]) -> list[list[Event[Any]]]:
        """The events in this run's order and batches (each event in exactly one)."""
        batches: list[list[Event[Any]]] = [[]]
        for position, index in enumerate(self.order):
            batches[-1].append(events[index])
            if position < len(self.cuts) and self.cuts[position]:
                batches.append([])
        return [b for b in batches if b]


@st.composite
def runs(draw: st.DrawFn, size: int, count: int = 3) -> list[Run]:
    """`count` deliveries of `size` events: the first in one batch, the others cut at random."""
    plans = [Run(tuple(range(size)), (False,) * max(0, size - 1), 0)]
    for _ in range(count - 1):
        order = tuple(draw(st.permutations(range(size))))
        cuts = tuple(draw(st.lists(st.booleans(), min_size=size - 1, max_size=size - 1)))
        plans.append(Run(order, cuts, draw(st.integers(0, 1000))))
    return plans


@st.composite
def scenarios(
    draw: st.DrawFn, min_size: int = 8, max_size: int = 36, count: int = 3
) -> tuple[list[Event[Any]], list[Run]]:
    """A world and `count` ways to deliver it."""
    events = draw(worlds(min_size, max_size))
    return events, draw(runs(len(events), count))
