"""A simulated national stream, projected by the real projectors into test schemas.

Shared by the API tests and the browser tests: the simulator's records go to prefixed
topics, the four projectors run in-process into `api_<model>_<unique>` schemas and keep
running (so tests can publish more events and watch the API follow).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer

from consumers.runtime import ProjectorRuntime
from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from producers.simulator import SimConfig, Via, run, simulate
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import end_offsets, wait_caught_up


@dataclass
class ProjectedWorld:
    """The projected simulation: topics, schemas, the truth and the running projectors."""

    settings: Settings
    prefix: str
    schemas: dict[str, str]
    truth: dict[str, Any]
    runtimes: list[ProjectorRuntime] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    producer: AIOKafkaProducer | None = None
    sent: int = 0

    @property
    def as_of(self) -> str:
        """The Qatar day whose KPI equals the truth: the simulation ends at midnight UTC
        of its last day, 03:00 in Qatar, so the next Qatar day (complete: the simulation
        ends two UTC days ago) counts all of it and nothing more."""
        end = dt.datetime.fromisoformat(str(self.truth["participation"]["as_of"]))
        return (end.date() + dt.timedelta(days=1)).isoformat()

    async def publish(self, events: list[dict[str, Any]], topic: str) -> None:
        """Send events (CloudEvents dicts) to one catalog topic under the prefix."""
        assert self.producer is not None
        for e in events:
            await self.producer.send_and_wait(
                self.prefix + topic, orjson.dumps(e), key=e["subject"].encode()
            )

    async def caught_up(self, wait_s: float = 60) -> None:
        """Wait until every projector applied everything on its topics."""
        conn = await connect(self.settings)
        try:
            for runtime in self.runtimes:
                topics = [self.prefix + t for t in runtime.projector.topics]
                ends = await end_offsets(self.settings, topics)
                await wait_caught_up(conn, runtime.schema, ends, wait_s)
        finally:
            await conn.close()


async def project_world(
    settings: Settings, unique: str, *, volunteers: int = 1500, days: int = 30, seed: int = 5
) -> ProjectedWorld:
    """Simulate up to the day before yesterday (with duplicates, reordering and invalid
    records), project it: the KPI's days must be complete in Qatar to count it all."""
    prefix = f"api.{unique}."
    until = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    config = SimConfig(seed=seed, volunteers=volunteers, days=days, until=until,
                       duplicates=0.02, reorder=True, invalid=0.005)  # fmt: skip
    simulation = simulate(config, topic_prefix=prefix)
    await run(simulation, via=Via.KAFKA, settings=settings, topic_prefix=prefix)
    world = ProjectedWorld(
        settings, prefix, {name: f"api_{name}_{unique}" for name in PROJECTORS}, simulation.truth()
    )
    for name, projector in PROJECTORS.items():
        runtime = ProjectorRuntime(
            projector, settings, schema=world.schemas[name], group_id=f"api-{name}-{unique}",
            topic_prefix=prefix, max_records=2000,
        )  # fmt: skip
        await runtime.start()
        world.runtimes.append(runtime)
        world.tasks.append(asyncio.create_task(runtime.run()))
    world.producer = build_producer(settings)
    await world.producer.start()
    await world.caught_up()
    return world


async def stop_world(world: ProjectedWorld, drop: bool = True) -> None:
    """Stop the projectors and the producer; drop the test schemas."""
    for runtime in world.runtimes:
        runtime.stopping.set()
    await asyncio.gather(*world.tasks, return_exceptions=True)
    for runtime in world.runtimes:
        await runtime.close()
    if world.producer is not None:
        await world.producer.stop()
    if drop:
        conn: asyncpg.Connection = await connect(world.settings)
        try:
            for schema in world.schemas.values():
                await conn.execute(f'drop schema if exists "{schema}" cascade')
        finally:
            await conn.close()
