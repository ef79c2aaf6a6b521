"""Partners in the simulator's world model, and what an honest stream says exists.

`partner_world` builds one partner organisation's own legitimate world (an organisation,
a campaign, an opportunity, volunteers and their participation) in the simulator's model,
so that the ground truth with it added is computed by the simulator's own `ground_truth`
rather than adjusted by hand; `render` turns it into events. `HonestView` reads from any
honest stream (the simulator's, or requests sent through the gateway) which
organisations, campaigns, opportunities and volunteers exist and who owns them: the
hostile-partner suite (`tests/integration/hostile/`) aims its attacks at those.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from producers.simulator.events import world_events
from producers.simulator.model import (
    DAY,
    HOUR,
    Campaign,
    Opportunity,
    Org,
    Pair,
    SimConfig,
    Volunteer,
    World,
    day_of,
)

PARTICIPATION_TYPES = (
    "volunteer.signed_up", "volunteer.signup_withdrawn", "volunteer.checked_in",
    "volunteer.checked_out", "volunteer.hours_verified", "volunteer.no_show",
)  # fmt: skip


@dataclass
class HonestView:
    """What an honest stream says exists, and who owns it (read from the events alone)."""

    events: list[dict[str, Any]]
    orgs: dict[str, str] = field(default_factory=dict)  # org -> sector
    campaigns: dict[str, str] = field(default_factory=dict)  # campaign -> org
    opportunities: dict[str, str] = field(default_factory=dict)  # opportunity -> campaign
    volunteers: set[str] = field(default_factory=set)
    attended: set[str] = field(default_factory=set)  # volunteers checked in or verified
    busy: dict[str, int] = field(default_factory=dict)  # opportunity -> participation events
    opted_out: list[str] = field(default_factory=list)  # last consent change refused a channel
    reused: set[str] = field(default_factory=set)  # honest ids already given to hostile events

    @classmethod
    def of(cls, events: Iterable[dict[str, Any]]) -> HonestView:
        view = cls(list(events))
        consent: dict[str, tuple[str, bool]] = {}
        for e in view.events:
            data = e["data"]
            match e["type"]:
                case "organization.registered":
                    view.orgs[data["org_id"]] = data["sector"]
                case "campaign.launched":
                    view.campaigns.setdefault(data["campaign_id"], data["org_id"])
                case "opportunity.published":
                    view.opportunities.setdefault(data["opportunity_id"], data["campaign_id"])
                case "volunteer.registered":
                    view.volunteers.add(data["volunteer_id"])
                case "volunteer.consent_changed":
                    refused = not all(data["consent"].values())
                    consent[data["volunteer_id"]] = max(
                        consent.get(data["volunteer_id"], ("", False)), (e["time"], refused)
                    )
                case kind if kind in PARTICIPATION_TYPES:
                    opportunity = data["opportunity_id"]
                    view.busy[opportunity] = view.busy.get(opportunity, 0) + 1
                    if kind in ("volunteer.checked_in", "volunteer.hours_verified"):
                        view.attended.add(data["volunteer_id"])
        view.opted_out = sorted(v for v, (_, refused) in consent.items() if refused)
        return view

    def target_opportunities(self, n: int) -> list[str]:
        """The busiest opportunities, each of another campaign where possible."""
        ranked = sorted(self.busy, key=lambda o: (-self.busy[o], o))
        picked: list[str] = []
        for opportunity in ranked:
            if self.opportunities[opportunity] not in {self.opportunities[p] for p in picked}:
                picked.append(opportunity)
            if len(picked) == n:
                break
        return picked

    def target_campaigns(self, n: int) -> list[str]:
        return [self.opportunities[o] for o in self.target_opportunities(n)]

    def target_volunteers(self, n: int) -> list[str]:
        return sorted(self.attended & self.volunteers)[:n]

    def target_orgs(self, n: int) -> list[str]:
        return sorted(self.orgs)[:n]

    def first_event(self, event_type: str, **data: str) -> dict[str, Any]:
        """The first honest event of that type whose data has these values."""
        return next(
            e
            for e in self.events
            if e["type"] == event_type and all(e["data"].get(k) == v for k, v in data.items())
        )

    def reuse_id(self, event_type: str, prefer: Iterable[str] = ()) -> str | None:
        """The id of an honest event of this type not handed out before (about `prefer` first).

        Never the same id twice: two hostile events with one id would be one event.
        """
        preferred = set(prefer)
        matching = [
            e for e in self.events if e["type"] == event_type and e["id"] not in self.reused
        ]
        matching.sort(key=lambda e: e["subject"] not in preferred)
        if not matching:
            return None
        self.reused.add(matching[0]["id"])
        return str(matching[0]["id"])


@dataclass
class Partner:
    """A partner organisation: its ids, its own legitimate world and facts, its id counter.

    The hostile one is a partner like any other: its own facts are legitimate.
    """

    org_id: str
    tag: str
    world: World  # only its own entities, in the simulator's model
    facts: list[dict[str, Any]]  # its own legitimate events, in time order
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def source(self) -> str:
        return f"partner/{self.org_id}"

    @property
    def campaign(self) -> str:
        return self.world.campaigns[0].campaign_id

    @property
    def opportunity(self) -> str:
        return self.world.opportunities[0].opportunity_id

    @property
    def volunteers(self) -> list[str]:
        return [v.volunteer_id for v in self.world.volunteers]

    def next_id(self) -> str:
        return f"{self.tag}-x{next(self.counter):03d}"


def partner_world(
    config: SimConfig, org_id: str, tag: str, *, registrar: str = "", sector: str = "community"
) -> Partner:
    """A partner's own legitimate world inside `config`'s window.

    One campaign (updated once), one opportunity, four volunteers it registered itself:
    one signs up, checks in and out and gets hours verified; one withdraws; one is a
    no-show; one walks in and gets hours verified. Its events are the simulator's
    rendering of that world, with the volunteers registered by `registrar` (default: the
    organisation itself).
    """
    start = config.window_start
    org = Org(org_id, "منظمة الاختبار", "Test Organisation", sector, start - 60 * DAY)
    campaign = Campaign(
        f"cmp-{tag}", org_id, "حملة الاختبار", "Test drive", "volunteer_drive", "al_khor",
        day_of(start), config.until + dt.timedelta(days=30), 40, 300, start - 3 * DAY,
        updates=[(start + DAY, {"target_hours": 360})],
    )  # fmt: skip
    shift = start + 2 * DAY + 6 * HOUR
    opportunity = Opportunity(
        f"opp-{tag}", campaign.campaign_id, "مناوبة", "Morning shift", shift, shift + 4 * HOUR,
        8, "al_khor", 16, start - 2 * DAY,
    )  # fmt: skip
    people = [("female", 1995, "qatari", "al_khor"), ("male", 2001, "resident", "doha"),
              ("female", 1988, "resident", "al_rayyan"), ("male", 1979, "qatari", "al_khor")]  # fmt: skip
    volunteers = [
        Volunteer(
            f"vol-{tag}-{n}",
            "Noor",
            "Test",
            f"+9747700{n:04d}",
            f"vol{n}@{tag}.example",
            "en",
            year,
            gender,
            group,
            place,
            {"sms": True, "email": True},
            start - 20 * DAY,
        )
        for n, (gender, year, group, place) in enumerate(people, start=1)
    ]
    pairs = [Pair(v.volunteer_id, opportunity.opportunity_id, campaign.campaign_id)
             for v in volunteers]  # fmt: skip
    signed, ends = opportunity.published_at + HOUR, opportunity.ends_at
    _signed_up(pairs[0], signed)
    _checked_in(pairs[0], shift + 300)
    pairs[0].events.append((ends + 600, "volunteer.checked_out", {"at": ends + 600}))
    pairs[0].checked_out_at = ends + 600
    _verified(pairs[0], ends + 2 * HOUR, 4.0, tag)
    _signed_up(pairs[1], signed + 60)
    pairs[1].events.append((signed + HOUR, "volunteer.signup_withdrawn", {}))
    pairs[1].signup_status = "withdrawn"
    _signed_up(pairs[2], signed + 120)
    pairs[2].events.append((ends + 2 * HOUR, "volunteer.no_show", {}))
    pairs[2].no_show = True
    _checked_in(pairs[3], shift + 600)
    _verified(pairs[3], ends + 3 * HOUR, 3.5, tag)
    world = World(config, [org], [campaign], [opportunity], volunteers, pairs)
    partner = Partner(org_id, tag, world, [])
    partner.facts = render(world, registrar or partner.source, partner.next_id)
    return partner


def _signed_up(pair: Pair, at: int) -> None:
    pair.events.append((at, "volunteer.signed_up", {}))
    pair.signup_status = "signed_up"


def _checked_in(pair: Pair, at: int) -> None:
    pair.events.append((at, "volunteer.checked_in", {"at": at, "method": "qr"}))
    pair.checked_in_at = at


def _verified(pair: Pair, at: int, hours: float, tag: str) -> None:
    pair.events.append((at, "volunteer.hours_verified", {"hours": hours, "verified_by": tag}))
    pair.hours, pair.first_verified_at = hours, at


def render(world: World, registrar: str, next_id: Any) -> list[dict[str, Any]]:
    """The simulator's events for `world`, volunteers registered by `registrar`, fresh ids."""
    docs = world_events(world)
    for doc in docs:
        doc["id"] = next_id()
        if doc["type"].startswith("volunteer.") and doc["source"].startswith("platform/"):
            doc["source"] = registrar
    return docs


def fresh_volunteers(
    config: SimConfig, tag: str, count: int, registered_at: int, municipality: str = "doha"
) -> list[Volunteer]:
    """Volunteers registered just now (their welcome messages are due): no participation."""
    return [
        Volunteer(
            f"vol-{tag}-{n}",
            "Huda",
            "Fresh",
            f"+9745500{n:04d}",
            f"{tag}{n}@fresh.example",
            "ar",
            2000,
            "female",
            "qatari",
            municipality,
            {"sms": True, "email": True},
            registered_at,
        )
        for n in range(1, count + 1)
    ]


def same_partition(key: str, stem: str, partitions: int) -> str:
    """The first `<stem>-<n>` that Kafka's default partitioner puts in `key`'s partition."""
    partitioner = DefaultPartitioner()
    every = list(range(partitions))
    target = partitioner(key.encode(), every, every)
    return next(
        f"{stem}-{n}"
        for n in itertools.count(1)
        if partitioner(f"{stem}-{n}".encode(), every, every) == target
    )


def with_worlds(world: World, *others: World) -> World:
    """`world` with the entities of `others` added (the truth of everything legitimate)."""
    merged = dataclasses.replace(world)
    for other in others:
        merged = dataclasses.replace(
            merged,
            orgs=merged.orgs + other.orgs,
            campaigns=merged.campaigns + other.campaigns,
            opportunities=merged.opportunities + other.opportunities,
            volunteers=merged.volunteers + other.volunteers,
            pairs=merged.pairs + other.pairs,
        )
    return merged


def reuse_honest_ids(
    facts: list[dict[str, Any]], view: HonestView, prefer: Iterable[str] = ()
) -> list[dict[str, Any]]:
    """The facts, each carrying the id of a distinct honest event of its type (when any)."""
    prefer = list(prefer)
    return [
        {**copy.deepcopy(fact), "id": view.reuse_id(fact["type"], prefer) or fact["id"]}
        for fact in facts
    ]
