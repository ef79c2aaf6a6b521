"""One simulation run: build the world, turn it into records, send them, write the truth."""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from infra.kafka import ensure_topics
from infra.settings import Settings
from producers.simulator import sinks
from producers.simulator.chaos import Record, StreamStats, build_records
from producers.simulator.events import world_events
from producers.simulator.generate import build_world
from producers.simulator.model import SimConfig, World
from producers.simulator.truth import ground_truth, write_truth
from schemas.topics import CATALOG


class Via(StrEnum):
    """Where `simulate` sends its records."""

    KAFKA = "kafka"
    GATEWAY = "gateway"
    FILE = "file"


@dataclass(repr=False)
class Simulation:
    """A generated world, its events and the records to send, in send order."""

    config: SimConfig
    world: World
    events: list[dict[str, Any]]
    records: list[Record]
    stats: StreamStats
    generate_s: float

    def __repr__(self) -> str:
        # asyncio formats a finished task's result when it reports on it; the default
        # dataclass repr of half a million records took seconds.
        return f"Simulation(seed={self.config.seed}, records={len(self.records)})"

    def truth(self) -> dict[str, Any]:
        return ground_truth(self.world, self.stats.as_dict())


@dataclass(repr=False)
class Outcome:
    """What a run did: for the summary line and the benchmark."""

    simulation: Simulation
    delivery: sinks.Delivery
    send_s: float
    truth_s: float = 0.0

    def __repr__(self) -> str:
        return f"Outcome({self.simulation!r}, sent={self.delivery.sent}, send_s={self.send_s:.1f})"

    @property
    def seconds(self) -> float:
        return self.simulation.generate_s + self.send_s + self.truth_s

    @property
    def records_per_s(self) -> float:
        return len(self.simulation.records) / self.seconds if self.seconds else 0.0


def simulate(config: SimConfig, topic_prefix: str = "") -> Simulation:
    """Generate everything for `config` (pure: no I/O)."""
    started = time.perf_counter()
    # Millions of small containers, none of them cyclic: the cyclic collector would
    # rescan them over and over (it costs ~40% of generation time), so pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        world = build_world(config)
        events = world_events(world)
        records, stats = build_records(
            events,
            seed=config.seed,
            duplicates=config.duplicates,
            invalid=config.invalid,
            reorder=config.reorder,
            topic_prefix=topic_prefix,
        )
    finally:
        if collecting:
            gc.enable()
    return Simulation(config, world, events, records, stats, time.perf_counter() - started)


def prefixed_catalog(prefix: str) -> list[Any]:
    """The topic catalog with every name prefixed (tests and benchmarks use their own)."""
    return [dataclasses.replace(spec, name=prefix + spec.name) for spec in CATALOG]


async def run(
    simulation: Simulation,
    *,
    via: Via,
    settings: Settings | None = None,
    out: Path | None = None,
    gateway_url: str = "",
    key: str = "",
    rate: float = 0.0,
    topic_prefix: str = "",
    truth_path: Path | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> Outcome:
    """Send the simulation's records via `via`, then write the truth file (if asked)."""
    records = simulation.records
    started = time.perf_counter()
    if via is Via.KAFKA:
        if settings is None:
            msg = "sending to Kafka needs settings"
            raise ValueError(msg)
        await ensure_topics(settings, prefixed_catalog(topic_prefix))
        delivery = await sinks.send_to_kafka(settings, records, rate=rate, progress=progress)
    elif via is Via.GATEWAY:
        delivery = await sinks.send_to_gateway(
            gateway_url, key, records, rate=rate, progress=progress
        )
    else:
        if out is None:
            msg = "--via file needs --out"
            raise ValueError(msg)
        delivery = await sinks.write_file(out, records, rate=rate, progress=progress)
    send_s = time.perf_counter() - started
    if truth_path is not None:
        write_truth(simulation.truth(), truth_path)
    return Outcome(simulation, delivery, send_s, time.perf_counter() - started - send_s)
