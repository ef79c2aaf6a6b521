"""One hostile run on the real Kafka and PostgreSQL, and the expected rows it is checked against.

`hostile_run` publishes, on one test's prefixed topics: the hostile organisation's own
facts and a first wave of attacks (each reusing an honest event's id) BEFORE the honest
stream; the simulator's honest stream and two fresh platform registrations; then every
other attack and the hostile bytes. It then runs the four projectors, the notifier's
enqueue projector and a notification audit projector until they caught up.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from consumers.notifications import build_projector
from consumers.runtime import Projector
from infra.db import connect
from infra.settings import Settings
from producers.simulator import SimConfig, Simulation, Via, ground_truth, run, simulate
from producers.simulator.model import World
from schemas.topics import VOLUNTEERS
from tatawwu.manifest import PROJECTORS
from tests.integration.hostile.attacks import Attack, Garbage, attacks, first_attacks, garbage
from tests.integration.hostile.platform import NOTIFICATION_AUDIT, Platform, Position, publish
from tests.support.events import event, records
from tests.support.hostile import (
    HonestView,
    Partner,
    fresh_volunteers,
    partner_world,
    render,
    reuse_honest_ids,
    same_partition,
    with_worlds,
)
from tests.support.projectors import create_prefixed_topics

HOSTILE = "org-hostile"
REGISTRY = "platform/registrations"
CONFIG = SimConfig(seed=29, volunteers=500, days=24, until=dt.date(2026, 9, 30),
                   duplicates=0.02, reorder=True)  # fmt: skip


@dataclass(repr=False)
class HostileRun:
    """Everything one run published, where it landed, and the truth it must produce."""

    prefix: str
    platform: Platform
    simulation: Simulation
    world: World  # every legitimate entity: honest, fresh, and the hostile's own
    truth: dict[str, Any]
    view: HonestView
    hostile: Partner
    attacks: list[tuple[Attack, Position]]
    garbage: list[tuple[Garbage, Position]]
    honest_fresh: list[dict[str, Any]]
    hostile_fresh: list[dict[str, Any]]
    projectors: dict[str, Projector]

    def __repr__(self) -> str:  # pytest shows it with every failure: keep it short
        return f"HostileRun(prefix={self.prefix!r}, attacks={len(self.attacks)})"

    @property
    def schemas(self) -> dict[str, str]:
        return self.platform.schemas


@dataclass(repr=False)
class Cast:
    """Who takes part in a run, and what the hostile sends before the honest stream."""

    simulation: Simulation
    view: HonestView
    hostile: Partner
    honest_world: World  # the two volunteers the platform registers now
    own_world: World  # the volunteer the hostile registers now
    honest_fresh: list[dict[str, Any]]
    hostile_fresh: list[dict[str, Any]]
    own: list[dict[str, Any]]  # its own facts, under the ids of honest events
    early: list[Attack]  # attacks whose claims are not known yet when they are sent

    @property
    def world(self) -> World:
        """Every legitimate entity: honest, fresh, and the hostile's own."""
        return with_worlds(self.simulation.world, self.hostile.world, self.honest_world,
                           self.own_world)  # fmt: skip


def cast(prefix: str, now: dt.datetime) -> Cast:
    """The honest simulation, the hostile partner, the fresh registrations, the first wave."""
    simulation = simulate(CONFIG, topic_prefix=prefix)
    view = HonestView.of(simulation.events)
    hostile = partner_world(CONFIG, HOSTILE, "hz")

    # Two volunteers the platform registers now (their welcome messages are due), and one
    # the hostile registers now, under the id of the first platform registration.
    fresh_at = int(now.timestamp()) - 600
    counter = itertools.count(1)
    honest_world = World(CONFIG, volunteers=fresh_volunteers(CONFIG, "fresh", 2, fresh_at))
    honest_fresh = render(honest_world, REGISTRY, lambda: f"reg-fresh-{next(counter)}")
    # Its volunteer's id shares the partition of the first, so its copy is read first.
    own_id = same_partition(honest_fresh[0]["subject"], "vol-hz-fresh", VOLUNTEERS.partitions)
    own_world = World(CONFIG, volunteers=fresh_volunteers(CONFIG, "hz-fresh", 1, fresh_at))
    own_world.volunteers[0].volunteer_id = own_id
    hostile_fresh = render(own_world, hostile.source, hostile.next_id)
    hostile_fresh[0]["id"] = honest_fresh[0]["id"]

    # First: its own facts under honest ids, then attacks whose claims are not known yet.
    own = reuse_honest_ids(hostile.facts, view, prefer=view.target_volunteers(6))
    early = first_attacks(view, hostile, now)
    return Cast(simulation, view, hostile, honest_world, own_world, honest_fresh,
                hostile_fresh, own, early)  # fmt: skip


def late_wave(
    view: HonestView, hostile: Partner, now: dt.datetime
) -> tuple[list[Attack], list[Garbage], dict[str, Any]]:
    """Every other attack, the hostile bytes, and its own update timed 3 min ahead (within
    the skew: accepted, and it changes nothing). `now`: about when they are appended."""
    late = attacks(view, hostile, now)
    bad = garbage(view.target_volunteers(1)[0].encode(), hostile)
    boundary = event("campaign.updated", hostile.next_id(), now + dt.timedelta(minutes=3), source=hostile.source, campaign_id=hostile.campaign,
                     target_hours=360, target_volunteers=None, ends_on=None)  # fmt: skip
    return late, bad, boundary


async def hostile_run(settings: Settings) -> HostileRun:
    """Publish everything (see the module docstring), project it, stop the projectors."""
    unique = uuid.uuid4().hex[:10]
    prefix, tag = f"hp.{unique}.", f"hp_{unique}"
    await create_prefixed_topics(settings, prefix)
    c = cast(prefix, dt.datetime.now(dt.UTC))
    simulation, view, hostile = c.simulation, c.view, c.hostile
    early = c.early
    landed = await publish(settings, records([*c.own, *c.hostile_fresh], prefix)
                           + records([a.doc for a in early], prefix))  # fmt: skip
    early_positions = landed[len(c.own) + len(c.hostile_fresh) :]

    await run(simulation, via=Via.KAFKA, settings=settings, topic_prefix=prefix)
    await publish(settings, records(c.honest_fresh, prefix))

    # The time bounds are judged against the append time.
    late, bad, boundary = late_wave(view, hostile, dt.datetime.now(dt.UTC))
    landed = await publish(
        settings,
        records([a.doc for a in late], prefix)
        + [(prefix + g.topic, g.key, g.value) for g in bad]
        + records([boundary], prefix),
    )
    projectors = platform_projectors(settings)
    platform = Platform(settings, projectors, prefix, tag)
    conn = await connect(settings)
    try:
        async with platform:
            await platform.caught_up(conn)
    finally:
        await conn.close()
    return HostileRun(
        prefix, platform, simulation, c.world, without_empty_cells(ground_truth(c.world)), view,
        hostile, list(zip(early, early_positions, strict=True))
        + list(zip(late, landed[: len(late)], strict=True)),
        list(zip(bad, landed[len(late) : len(late) + len(bad)], strict=True)),
        c.honest_fresh, c.hostile_fresh, projectors,
    )  # fmt: skip


def platform_projectors(settings: Settings) -> dict[str, Projector]:
    """The four read models, the notifier's enqueue projector and the notification audit."""
    return {**PROJECTORS, "notifications": build_projector(settings),
            "notification_audit": NOTIFICATION_AUDIT}  # fmt: skip


def expected_profiles(world: World) -> dict[str, dict[str, Any]]:
    """Each legitimate volunteer's profile: registration, then updates and consent in time order."""
    profiles = {}
    for v in world.volunteers:
        row: dict[str, Any] = {
            "given_name": v.given_name, "family_name": v.family_name, "phone": v.phone,
            "email": v.email, "language": v.language, "municipality": v.municipality,
            "birth_year": v.birth_year, "gender": v.gender,
            "nationality_group": v.nationality_group, "consent": v.consent,
            "status": "registered",
        }  # fmt: skip
        for _at, changes in sorted(v.updates, key=lambda u: u[0]):
            row.update(changes)
        if v.consent_changes:
            row["consent"] = max(v.consent_changes, key=lambda c: c[0])[1]
        profiles[v.volunteer_id] = row
    return profiles


def expected_campaigns(world: World) -> dict[str, dict[str, Any]]:
    """Each campaign's owner, targets, end and status once its updates are applied."""
    rows = {}
    for c in world.campaigns:
        row: dict[str, Any] = {
            "org_id": c.org_id, "target_volunteers": c.target_volunteers,
            "target_hours": c.target_hours, "ends_on": c.ends_on.isoformat(), "status": c.status,
        }  # fmt: skip
        for _at, changes in sorted(c.updates, key=lambda u: u[0]):
            row.update(changes)
        rows[c.campaign_id] = row
    return rows


def without_empty_cells(truth: dict[str, Any]) -> dict[str, Any]:
    """The truth with its KPI breakdown cells of zero dropped.

    `tests.support.truth.compare` keeps only the non-zero cells of the KPI's breakdowns but
    compares them with every cell of the truth, zeros included: a small world where nobody
    in, say, al_shamal was active could never match.
    """
    participation = truth["participation"]
    by = {d: {k: n for k, n in cells.items() if n} for d, cells in participation["by"].items()}
    return {**truth, "participation": {**participation, "by": by}}


def narrow(diffs: dict[str, Any]) -> dict[str, Any]:
    """`compare`'s mismatches reduced to the keys that differ (whole read models are long)."""
    narrowed = {}
    for name, (actual, expected) in diffs.items():
        if isinstance(actual, dict) and isinstance(expected, dict):
            keys = sorted(set(actual) | set(expected), key=str)
            narrowed[name] = {
                k: (actual.get(k), expected.get(k))
                for k in keys
                if actual.get(k) != expected.get(k)
            }
        else:
            narrowed[name] = (actual, expected)
    return narrowed


def plain(row: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """A database row as plain values (jsonb text parsed, dates as ISO strings)."""
    out = {}
    for k in keys:
        value = row[k]
        if k == "consent" and isinstance(value, str):
            value = orjson.loads(value)
        elif isinstance(value, dt.date):
            value = value.isoformat()
        out[k] = value
    return out
