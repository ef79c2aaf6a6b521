"""One simulation run: generate, turn into records, send, write the truth.

Two ways: `simulate` + `run` hold the whole world, its events and records in memory (small
runs and tests that inspect them); `run_streamed` generates, sends and tallies the truth
as it goes, in memory that stays flat whatever the size (the CLI and the benchmarks).
Without faults both send the same records and write the same truth file for a seed.
"""

from __future__ import annotations

import dataclasses
import gc
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from infra.kafka import ensure_topics
from infra.settings import Settings
from producers.simulator import sinks
from producers.simulator.chaos import Record, StreamFaults, StreamStats, build_records
from producers.simulator.model import SimConfig, World
from producers.simulator.stream import Stream
from producers.simulator.tally import Tally
from producers.simulator.truth import ground_truth, write_sections, write_truth
from schemas.topics import CATALOG


class Via(StrEnum):
    """Where `simulate` sends its records."""

    KAFKA = "kafka"
    GATEWAY = "gateway"
    FILE = "file"
    NULL = "null"


@dataclass(repr=False)
class Simulation:
    """A generated world, its events and the records to send, in send order."""

    config: SimConfig
    world: World
    events: list[dict[str, Any]]
    records: list[Record]
    stats: StreamStats
    generate_s: float
    tally: Tally | None = None

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
    """Generate everything for `config` and keep it (pure: no I/O)."""
    started = time.perf_counter()
    # Millions of small containers, none of them cyclic: the cyclic collector would
    # rescan them over and over (it costs ~40% of generation time), so pause it.
    collecting = gc.isenabled()
    gc.disable()
    try:
        stream = Stream(config, keep_world=True)
        events = list(stream.events())
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
    world = stream.world
    assert world is not None  # kept above
    elapsed = time.perf_counter() - started
    return Simulation(config, world, events, records, stats, elapsed, stream.tally)


def prefixed_catalog(prefix: str) -> list[Any]:
    """The topic catalog with every name prefixed (tests and benchmarks use their own)."""
    return [dataclasses.replace(spec, name=prefix + spec.name) for spec in CATALOG]


async def deliver(
    records: Iterable[Record],
    *,
    via: Via,
    settings: Settings | None = None,
    out: Path | None = None,
    gateway_url: str = "",
    key: str = "",
    rate: float = 0.0,
    topic_prefix: str = "",
    progress: Callable[[int], None] = lambda _n: None,
) -> sinks.Delivery:
    """Send `records` (a list or a generator) via `via`."""
    if via is Via.KAFKA:
        if settings is None:
            msg = "sending to Kafka needs settings"
            raise ValueError(msg)
        await ensure_topics(settings, prefixed_catalog(topic_prefix))
        return await sinks.send_to_kafka(settings, records, rate=rate, progress=progress)
    if via is Via.GATEWAY:
        return await sinks.send_to_gateway(gateway_url, key, records, rate=rate, progress=progress)
    if via is Via.NULL:
        return await sinks.discard(records, progress=progress)
    if out is None:
        msg = "--via file needs --out"
        raise ValueError(msg)
    return await sinks.write_file(out, records, rate=rate, progress=progress)


async def run(
    simulation: Simulation,
    *,
    via: Via,
    truth_path: Path | None = None,
    **options: Any,
) -> Outcome:
    """Send the simulation's records via `via` (options: `deliver`'s), then write the truth."""
    started = time.perf_counter()
    delivery = await deliver(simulation.records, via=via, **options)
    send_s = time.perf_counter() - started
    if truth_path is not None:
        write_truth(simulation.truth(), truth_path)
    return Outcome(simulation, delivery, send_s, time.perf_counter() - started - send_s)


@dataclass(repr=False)
class StreamOutcome:
    """What a streamed run did: its records' counts, delivery and timings."""

    config: SimConfig
    stats: StreamStats
    delivery: sinks.Delivery
    seconds: float  # generating and sending, interleaved
    truth_s: float

    def __repr__(self) -> str:
        return f"StreamOutcome(seed={self.config.seed}, sent={self.delivery.sent})"

    @property
    def records_per_s(self) -> float:
        return self.stats.total_records / self.seconds if self.seconds else 0.0


async def run_streamed(
    config: SimConfig,
    *,
    via: Via,
    truth_path: Path | None = None,
    topic_prefix: str = "",
    **options: Any,
) -> StreamOutcome:
    """Generate and send `config`'s records as they are made, then write the truth.

    Memory stays flat: nothing but a few weeks of pending events and per-entity counts is
    held (producers/simulator/README.md has the figures).
    """
    started = time.perf_counter()
    stream = Stream(config)
    faults = StreamFaults(seed=config.seed, duplicates=config.duplicates, invalid=config.invalid,
                          reorder=config.reorder, topic_prefix=topic_prefix)  # fmt: skip
    records = faults.records(stream.events())
    delivery = await deliver(records, via=via, topic_prefix=topic_prefix, **options)
    sent = time.perf_counter()
    if truth_path is not None:
        write_tally(stream.tally, faults.stats, truth_path)
    done = time.perf_counter()
    return StreamOutcome(config, faults.stats, delivery, sent - started, done - sent)


def write_tally(tally: Tally, stats: StreamStats, path: Path) -> None:
    """Write a streamed run's truth: the same bytes as `write_truth` of the same world."""
    streamed = {
        "opportunities": tally.opportunity_rows(),
        "volunteers.by_id": tally.volunteer_rows(),
    }
    sections = {**tally.sections(stats.as_dict()), "volunteers.totals": tally.volunteer_totals()}
    with path.open("wb", buffering=1 << 20) as out:
        write_sections(out, sections, streamed)
