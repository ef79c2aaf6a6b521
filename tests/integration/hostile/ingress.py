"""The hostile run through the Kafka-ingress router, and what the router must make of it.

The honest world is published as in the Kafka-direct run (`world.hostile_run`): the
simulator's events straight to the prefixed canonical topics (the honest partners' path
is not under test here). Everything the hostile organisation sends goes to its own
ingress topic, `{prefix}tatawwu.ingress.org-hostile`, and reaches the canonical topics
only through the router (in this event loop, `tests.support.router.running_router`).

The order is chosen so that the router meets both cases an entry point meets:
1. its own facts, its fresh registration and the first wave of attacks go to its ingress
   topic, and the router routes them before any honest fact is projected: the claims
   the first wave aims at are unknown, so each is refused as the ghost attacks of the
   catalogue are (the rule names the entity nobody claimed yet), never parked or passed;
2. the honest stream is published and projected (the projectors store its claims in the
   registry the router reads);
3. every other attack, the hostile bytes and its boundary update go to its ingress topic
   and are routed against the honest claims: each refused with its gateway rule.
The projectors and the notifier run from step 2 until the end and catch up once more.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from consumers.runtime import Projector
from infra.db import connect
from infra.settings import Settings
from producers.simulator import Simulation, Via, ground_truth, run
from producers.simulator.model import World
from schemas.ownership import Kind
from schemas.topics import CATALOG, DEADLETTER
from tests.integration.hostile.attacks import IN_FUTURE, Attack, Expect, Garbage
from tests.integration.hostile.platform import Platform, Position, publish
from tests.integration.hostile.world import (
    HOSTILE,
    cast,
    late_wave,
    platform_projectors,
    without_empty_cells,
)
from tests.support.events import event, records
from tests.support.hostile import HonestView, Partner
from tests.support.projectors import create_prefixed_topics
from tests.support.router import create_ingress, read_all, running_router, wait_routed

ROUTE_WAIT_S = 60
# Another organisation's `source` on one's own ingress topic (the gateway's rule for a key).
FOREIGN_SOURCE = Expect("not_owner", "source", "source")
# The field a refusal names, and the entity whose claim decides it (none: a refusal
# that needs no claim, such as a foreign organisation's subject or a time out of bounds).
ENTITY_AT = {
    "data.campaign_id": Kind.CAMPAIGN,
    "data.opportunity_id": Kind.OPPORTUNITY,
    "data.volunteer_id": Kind.VOLUNTEER,
}


@dataclass(repr=False)
class IngressRun:
    """What the hostile sent to its ingress topic, where it landed, and what was projected."""

    prefix: str
    topic: str  # the hostile's ingress topic
    platform: Platform
    simulation: Simulation
    world: World  # every legitimate entity: honest, fresh, and the hostile's own
    truth: dict[str, Any]
    view: HonestView
    hostile: Partner
    legit: list[dict[str, Any]]  # its own facts, fresh registration, boundary update
    attacks: list[tuple[Attack, Position]]  # positions on its ingress topic
    garbage: list[tuple[Garbage, Position]]
    honest_fresh: list[dict[str, Any]]
    hostile_fresh: list[dict[str, Any]]
    projectors: dict[str, Projector]
    records: int  # everything it wrote to its ingress topic
    aborted: float  # router batches aborted during the run
    router_unready: str | None  # the router's readiness answer at the end

    def __repr__(self) -> str:  # pytest shows it with every failure: keep it short
        return f"IngressRun(prefix={self.prefix!r}, attacks={len(self.attacks)})"

    @property
    def schemas(self) -> dict[str, str]:
        return self.platform.schemas


def to_ingress(topic: str, documents: Sequence[dict[str, Any]]) -> list[tuple[str, bytes, bytes]]:
    """Structured-mode records of the documents on `topic`, keyed by subject."""
    return [(topic, str(d["subject"]).encode(), orjson.dumps(d)) for d in documents]


async def ingress_run(settings: Settings) -> IngressRun:
    """Publish and route everything in the order of the module docstring; project it."""
    unique = uuid.uuid4().hex[:10]
    prefix, tag = f"hi.{unique}.", f"hi_{unique}"
    await create_prefixed_topics(settings, prefix)
    [topic] = await create_ingress(settings, prefix, [HOSTILE])
    canonical = [prefix + spec.name for spec in CATALOG if spec is not DEADLETTER]
    now = dt.datetime.now(dt.UTC)
    c = cast(prefix, now)
    first = [*c.own, *c.hostile_fresh]
    early = [*c.early, forged_launch(c.view, c.hostile, now)]
    landed = await publish(settings, to_ingress(topic, [*first, *(a.doc for a in early)]))
    attacked = list(zip(early, landed[len(first) :], strict=True))

    aborted = _aborted()
    projectors = platform_projectors(settings)
    platform = Platform(settings, projectors, prefix, tag)
    conn = await connect(settings)
    try:
        async with running_router(settings, prefix) as router:
            await wait_routed(settings, prefix, [topic], ROUTE_WAIT_S)  # 1.
            await run(c.simulation, via=Via.KAFKA, settings=settings, topic_prefix=prefix)
            await publish(settings, records(c.honest_fresh, prefix))
            async with platform:
                # 2. The honest claims are in the registry.
                await platform.caught_up(conn, ends=await last_records(settings, canonical))
                # 3. The time bounds are judged against the ingress record's append time.
                now = dt.datetime.now(dt.UTC)
                late, bad, boundary = late_wave(c.view, c.hostile, now)
                late.append(forged_update(c.view, c.hostile, now))
                landed = await publish(
                    settings,
                    to_ingress(topic, [a.doc for a in late])
                    + [(topic, g.key, g.value) for g in bad]
                    + to_ingress(topic, [boundary]),
                )
                await wait_routed(settings, prefix, [topic], ROUTE_WAIT_S)
                await platform.caught_up(conn, ends=await last_records(settings, canonical))
            unready = await router.readiness()
    finally:
        await conn.close()
    attacked += zip(late, landed[: len(late)], strict=True)
    garbage = list(zip(bad, landed[len(late) : len(late) + len(bad)], strict=True))
    return IngressRun(
        prefix, topic, platform, c.simulation, c.world,
        without_empty_cells(ground_truth(c.world)), c.view, c.hostile,
        [*first, boundary], attacked, garbage, c.honest_fresh, c.hostile_fresh, projectors,
        len(first) + len(early) + len(landed), _aborted() - aborted, unready,
    )  # fmt: skip


def forged_launch(view: HonestView, hostile: Partner, now: dt.datetime) -> Attack:
    """Before the honest stream: a new campaign launched in an honest organisation's name,
    with its source. Judged as that organisation, it would pass (and claim the campaign):
    the router judges as the organisation whose ingress topic the record is on."""
    [campaign] = view.target_campaigns(1)
    launch = view.first_event("campaign.launched", campaign_id=campaign)
    doc = event("campaign.launched", hostile.next_id(), now - dt.timedelta(minutes=3),
                source=launch["source"], campaign_id=f"cmp-{hostile.tag}-forged-early",
                org_id=launch["data"]["org_id"])  # fmt: skip
    return Attack("launch a campaign speaking as an honest partner", doc, FOREIGN_SOURCE,
                  first=True)  # fmt: skip


def forged_update(view: HonestView, hostile: Partner, now: dt.datetime) -> Attack:
    """After it: an honest campaign's update, with its owner's source."""
    [campaign] = view.target_campaigns(1)
    source = view.first_event("campaign.launched", campaign_id=campaign)["source"]
    doc = event("campaign.updated", hostile.next_id(), now - dt.timedelta(minutes=2),
                source=source, campaign_id=campaign, target_volunteers=1, ends_on=None)  # fmt: skip
    return Attack("update an honest campaign speaking as its owner", doc, FOREIGN_SOURCE)


async def last_records(settings: Settings, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """Per partition, the offset after its last record, read committed.

    Not the end offset: the router forwards in Kafka transactions, and a partition whose
    last record it wrote ends with the transaction's commit marker, one offset further,
    that a projector never stores (it stores the offset after the last record it read).
    """
    found: dict[TopicPartition, int] = {}
    for record in await read_all(settings, topics):
        tp = TopicPartition(record.topic, record.partition)
        found[tp] = max(found.get(tp, 0), record.offset + 1)
    return found


def _aborted() -> float:
    """Router batches aborted so far in this process (the metric is process-wide)."""
    found = REGISTRY.get_sample_value("tatawwu_router_batches_total", {"outcome": "aborted"})
    return found or 0.0


def unknown_claim_rules(catalogue: Sequence[Attack]) -> dict[Kind, str]:
    """The rule an entry point refuses a fact with when no claim decides its owner yet,
    per kind of entity: read from the catalogue's ghost attacks (facts about entities
    nobody ever creates), whose `gateway_rule` states it."""
    rules = {a.parks_on[0]: a.gateway_rule for a in catalogue if a.parks_on and a.gateway_rule}
    assert set(rules) == set(ENTITY_AT.values()), rules
    return {Kind(kind): rule for kind, rule in rules.items()}


def router_rule(attack: Attack, unknown: dict[Kind, str]) -> str:
    """The rule the router must refuse `attack` with.

    A late attack meets the claims of the honest stream: the gateway's rule. An early one
    was routed before any honest claim existed: when its refusal depends on the claim of
    the entity it names (`expect.path`), that entity is unknown, and the fact is refused
    as a ghost is; refusals that need no claim (a foreign organisation, a platform fact,
    a time out of bounds) do not change.
    """
    expect = attack.expect
    if attack.first and expect is not None and expect.reason == "not_owner":
        entity = ENTITY_AT.get(expect.path)
        if entity is not None:
            return unknown[entity]
    return attack.gateway[1]


def garbage_rule(bad: Garbage) -> str:
    """The rule the router must dead-letter hostile bytes with: the decoder's reason, as a
    projector's, except for a record on the wrong topic. An ingress topic carries every
    type, so that one decodes: its own campaign's update, timed in 2099 (too far ahead)."""
    if bad.reason == "wrong_topic":
        doc = orjson.loads(bad.value or b"")
        assert doc["source"] == f"partner/{HOSTILE}", doc
        assert doc["time"].startswith("2099"), doc
        return IN_FUTURE.rule
    return bad.reason
