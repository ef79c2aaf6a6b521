"""A modest seeded simulation shared by the simulator's unit tests (generated once)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from producers.simulator import SimConfig, Simulation, simulate
from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.errors import DecodeError

UNTIL = dt.date(2025, 6, 30)
CONFIG = SimConfig(
    seed=7, volunteers=1_500, days=30, until=UNTIL, duplicates=0.03, invalid=0.01, reorder=True
)


@pytest.fixture(scope="session")
def sim() -> Simulation:
    """1,500 volunteers over 30 days with duplicates, invalid records and reordering."""
    return simulate(CONFIG)


@pytest.fixture(scope="session")
def decoded(sim: Simulation) -> list[Event[Any] | DecodeError]:
    """Every record of `sim`, in send order, through the platform's decoder."""
    return [decode_event(record.value) for record in sim.records]


@pytest.fixture(scope="session")
def unique_events(sim: Simulation, decoded: list[Event[Any] | DecodeError]) -> list[Event[Any]]:
    """The valid events of `sim` with re-sent ids dropped: what consumers apply."""
    seen: set[str] = set()
    events = []
    for record, event in zip(sim.records, decoded, strict=True):
        if record.kind == "invalid" or isinstance(event, DecodeError) or event.id in seen:
            continue
        seen.add(event.id)
        events.append(event)
    return events
