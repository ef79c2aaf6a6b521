"""The hostile partner's attacks, aimed at an honest world, and what every judge must answer.

`attacks(view, hostile, now)` builds every attack of the catalogue against the real
entities of an `HonestView`; `first_attacks` the ones sent before the honest stream (each
under the id of an honest event); `garbage` the hostile bytes. An attack states the
dead-letter reason, rule and path a projector must record (or the claim it stays parked
for when nobody ever makes it), and the status and rule the gateway must answer with.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from consumers.runtime import Projector
from schemas import ownership
from schemas.decode import decode_event
from schemas.errors import DecodeError
from schemas.registry import CURRENT
from schemas.topics import SIGNUPS, VOLUNTEERS
from tests.support.events import TOPIC, event, iso
from tests.support.hostile import PARTICIPATION_TYPES, HonestView, Partner, reuse_honest_ids

CLAIMING_TYPES = frozenset(t for t, s in CURRENT.items() if s.model in ownership.CLAIMING)
NOTIFICATION_TYPES = frozenset(
    {"notification.sent", "notification.failed", "notification.suppressed"}
)
CRAFTED_NAME = "Sara visit https://evil.example/win or WWW.EVIL.EXAMPLE"
FAR_FUTURE = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)
BEFORE_EPOCH = dt.datetime(2019, 12, 31, 23, 59, 59, tzinfo=dt.UTC)
# Valid RFC 3339, but 10000-01-01 once converted to UTC: out of every datetime's range.
OUT_OF_RANGE_TIME = "9999-12-31T23:59:59-23:59"


@dataclass(frozen=True)
class Expect:
    """What a projector must dead-letter an attack with: reason, and the rule at its path."""

    reason: str
    rule: str
    path: str

    @property
    def status(self) -> int:
        """The gateway's answer to the same refusal (time bounds are a 422)."""
        return 422 if self.reason in ("time_in_future", "time_before_epoch") else 403


CAMPAIGN_OWNER = Expect("not_owner", "campaign_owner", "data.campaign_id")
OPPORTUNITY_CAMPAIGN = Expect("not_owner", "opportunity_campaign", "data.opportunity_id")
REGISTRAR = Expect("not_owner", "volunteer_registrar", "data.volunteer_id")
ORG_SUBJECT = Expect("not_owner", "organization", "subject")
ORG_IN_DATA = Expect("not_owner", "organization", "data.org_id")
PLATFORM_ONLY = Expect("platform_only", "platform_only", "source")
IN_FUTURE = Expect("time_in_future", "time_in_future", "time")
PRE_EPOCH = Expect("time_before_epoch", "time_before_epoch", "time")


@dataclass
class Attack:
    """One hostile event, and what every judge must make of it.

    `expect` is the projectors' refusal; None when no claim ever decides its owner, so a
    projector parks it for good on `parks_on` (the gateway refuses it with `gateway_rule`).
    `first`: published before the honest stream (its claims are unknown when it arrives).
    """

    label: str
    doc: dict[str, Any]
    expect: Expect | None
    parks_on: ownership.Key | None = None
    gateway_rule: str | None = None
    first: bool = False

    @property
    def type(self) -> str:
        return str(self.doc["type"])

    @property
    def topic(self) -> str:
        return TOPIC[self.type]

    @property
    def gateway(self) -> tuple[int, str]:
        """(status, rule) the gateway must answer this attack with."""
        if self.expect is None:
            assert self.gateway_rule is not None
            return 403, self.gateway_rule
        return self.expect.status, self.gateway_rule or self.expect.rule


@dataclass
class Garbage:
    """Hostile bytes: what a projector dead-letters them for, and what the gateway answers."""

    label: str
    topic: str
    key: bytes
    value: bytes | None
    reason: str
    fragment: str  # must appear in the dead-letter detail
    gateway: tuple[int, str, str | None] | None  # (status, problem slug, errors[0].rule)


def judges(projector: Projector, event_type: str) -> bool:
    """Whether `projector` judges events of this type (it must consume their topic).

    The runtime judges the types a projector handles, and every claim-making type (a
    launch, publication, registration or suspension) so that its claims are known.
    """
    handled = event_type in projector.event_types or event_type in CLAIMING_TYPES
    return handled and TOPIC[event_type] in projector.topics


def attacks(view: HonestView, hostile: Partner, now: dt.datetime) -> list[Attack]:
    """Every attack of the catalogue, aimed at the honest entities of `view`."""
    at = now - dt.timedelta(minutes=2)
    return [
        *_campaign_attacks(view, hostile, at),
        *_opportunity_attacks(view, hostile, at),
        *_participation_attacks(view, hostile, at),
        *_volunteer_attacks(view, hostile, at),
        *_organization_attacks(view, hostile, at),
        *_time_attacks(hostile, now),
        *_ghost_attacks(hostile, at),
    ]


def _campaign_attacks(view: HonestView, h: Partner, at: dt.datetime) -> Iterator[Attack]:
    def attack(label: str, event_type: str, expect: Expect, **data: Any) -> Attack:
        return Attack(label, event(event_type, h.next_id(), at, source=h.source, **data), expect)

    for campaign in view.target_campaigns(2):
        owner = view.campaigns[campaign]
        launch = view.first_event("campaign.launched", campaign_id=campaign)["data"]
        yield attack(f"relaunch {campaign} as the hostile", "campaign.launched", CAMPAIGN_OWNER,
                     **{**launch, "org_id": h.org_id, "title_en": "Ours now"})  # fmt: skip
        yield attack(f"relaunch {campaign} in {owner}'s name", "campaign.launched", ORG_IN_DATA,
                     **launch)  # fmt: skip
        yield attack(f"update {campaign}", "campaign.updated", CAMPAIGN_OWNER,
                     campaign_id=campaign, target_volunteers=1, ends_on=None)  # fmt: skip
        yield attack(f"close {campaign}", "campaign.closed", CAMPAIGN_OWNER,
                     campaign_id=campaign, reason="cancelled")  # fmt: skip
    yield attack("launch a new campaign in an honest org's name", "campaign.launched",
                 ORG_IN_DATA, campaign_id=f"cmp-{h.tag}-forged", org_id=view.target_orgs(1)[0])  # fmt: skip


def _opportunity_attacks(view: HonestView, h: Partner, at: dt.datetime) -> Iterator[Attack]:
    def attack(label: str, event_type: str, expect: Expect, **data: Any) -> Attack:
        return Attack(label, event(event_type, h.next_id(), at, source=h.source, **data), expect)

    for opportunity in view.target_opportunities(2):
        campaign = view.opportunities[opportunity]
        published = view.first_event("opportunity.published", opportunity_id=opportunity)["data"]
        for under, expect in ((h.campaign, OPPORTUNITY_CAMPAIGN), (campaign, CAMPAIGN_OWNER)):
            yield attack(f"publish {opportunity} under {under}", "opportunity.published", expect,
                         **{**published, "campaign_id": under, "capacity": 1})  # fmt: skip
            yield attack(f"cancel {opportunity} under {under}", "opportunity.cancelled", expect,
                         opportunity_id=opportunity, campaign_id=under, reason="Cancelled")  # fmt: skip
        yield attack(f"publish a new opportunity under {campaign}", "opportunity.published",
                     CAMPAIGN_OWNER, **{**published, "opportunity_id": f"opp-{h.tag}-injected"})  # fmt: skip


def _participation(
    h: Partner, event_type: str, at: dt.datetime, volunteer: str, opportunity: str, campaign: str
) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if event_type in ("volunteer.checked_in", "volunteer.checked_out"):
        extra["at"] = iso(at)
    if event_type == "volunteer.hours_verified":
        extra.update(hours=24.0, verified_by=h.tag)
    return event(event_type, h.next_id(), at, source=h.source, volunteer_id=volunteer,
                 opportunity_id=opportunity, campaign_id=campaign, **extra)  # fmt: skip


def _participation_attacks(view: HonestView, h: Partner, at: dt.datetime) -> Iterator[Attack]:
    [opportunity] = view.target_opportunities(1)
    campaign = view.opportunities[opportunity]
    volunteers = view.target_volunteers(2)
    for kind in PARTICIPATION_TYPES:
        for volunteer in volunteers:
            yield Attack(f"{kind} {volunteer} under {campaign}",
                         _participation(h, kind, at, volunteer, opportunity, campaign),
                         CAMPAIGN_OWNER)  # fmt: skip
        yield Attack(f"{kind} {volunteers[0]} on {opportunity} under the hostile's campaign",
                     _participation(h, kind, at, volunteers[0], opportunity, h.campaign),
                     OPPORTUNITY_CAMPAIGN)  # fmt: skip
        yield Attack(f"{kind} its own volunteer on {opportunity}",
                     _participation(h, kind, at, h.volunteers[0], opportunity, campaign),
                     CAMPAIGN_OWNER)  # fmt: skip


def _volunteer_attacks(view: HonestView, h: Partner, at: dt.datetime) -> Iterator[Attack]:
    def attack(label: str, event_type: str, expect: Expect, when: dt.datetime = at,
               **data: Any) -> Attack:  # fmt: skip
        return Attack(label, event(event_type, h.next_id(), when, source=h.source, **data), expect)

    for n, volunteer in enumerate(view.target_volunteers(2)):
        registration = view.first_event("volunteer.registered", volunteer_id=volunteer)["data"]
        crafted = {**registration, "phone": f"+97466600{n:03d}", "given_name": CRAFTED_NAME}
        yield attack(f"re-register {volunteer}", "volunteer.registered", REGISTRAR, **crafted)
        v1 = attack(f"re-register {volunteer} as v1 (upcast)", "volunteer.registered", REGISTRAR,
                    **crafted)  # fmt: skip
        v1.doc["dataschema"] = v1.doc["dataschema"].replace(":v2", ":v1")
        v1.doc["data"] = {k: v for k, v in crafted.items() if not k.endswith("_name")}
        v1.doc["data"]["full_name"] = CRAFTED_NAME
        assert not isinstance(decode_event(orjson.dumps(v1.doc)), DecodeError)
        yield v1
        update = {
            "volunteer_id": volunteer,
            "phone": f"+97466601{n:03d}",
            "municipality": "al_shamal",
        }
        consent = {"volunteer_id": volunteer, "consent": {"sms": True, "email": True}}
        for event_type, data in (("volunteer.profile_updated", update),
                                 ("volunteer.consent_changed", consent)):  # fmt: skip
            yield attack(f"{event_type} of {volunteer}", event_type, REGISTRAR, **data)
            yield attack(f"{event_type} of {volunteer} in 2099", event_type, IN_FUTURE,
                         FAR_FUTURE, **data)  # fmt: skip
    for volunteer in view.opted_out[:2]:
        yield attack(f"opt {volunteer} back in after the honest opt-out",
                     "volunteer.consent_changed", REGISTRAR, volunteer_id=volunteer,
                     consent={"sms": True, "email": True})  # fmt: skip
    yield attack("notification.sent from a partner", "notification.sent", PLATFORM_ONLY,
                 volunteer_id=view.target_volunteers(1)[0], cause_event_id=h.next_id())  # fmt: skip


def _organization_attacks(view: HonestView, h: Partner, at: dt.datetime) -> Iterator[Attack]:
    for org in view.target_orgs(2):
        sector = next(s for s in ("government", "private") if s != view.orgs[org])
        yield Attack(f"register {org} again", event(
            "organization.registered", h.next_id(), at, source=h.source, org_id=org, sector=sector,
            name_en="Taken over"), ORG_SUBJECT)  # fmt: skip
        yield Attack(f"suspend {org}", event(
            "organization.suspended", h.next_id(), at, source=h.source, org_id=org,
            reason="Compliance review pending"), ORG_SUBJECT)  # fmt: skip


def _time_attacks(h: Partner, now: dt.datetime) -> Iterator[Attack]:
    """Its own facts, refused for their time alone."""
    ahead = now + dt.timedelta(minutes=5, seconds=90)  # a bit more than the 5 min of skew
    opportunity, campaign = h.opportunity, h.campaign
    for label, when, expect in (("in 2099", FAR_FUTURE, IN_FUTURE),
                                ("5.5 min ahead", ahead, IN_FUTURE),
                                ("before the 2020 epoch", BEFORE_EPOCH, PRE_EPOCH)):  # fmt: skip
        yield Attack(f"its own campaign update {label}", event(
            "campaign.updated", h.next_id(), when, source=h.source, campaign_id=campaign,
            target_volunteers=999, ends_on=None), expect)  # fmt: skip
        yield Attack(
            f"its own sign-up {label}",
            _participation(h, "volunteer.signed_up", when, h.volunteers[1], opportunity, campaign),
            expect,
        )
        yield Attack(
            f"its own hours {label}",
            _participation(
                h, "volunteer.hours_verified", when, h.volunteers[0], opportunity, campaign
            ),
            expect,
        )
    yield Attack("its own new volunteer registered before the epoch", event(
        "volunteer.registered", h.next_id(), BEFORE_EPOCH, source=h.source,
        volunteer_id=f"vol-{h.tag}-old"), PRE_EPOCH)  # fmt: skip


def _ghost_attacks(h: Partner, at: dt.datetime) -> Iterator[Attack]:
    """Facts about entities nobody ever creates: parked for good, never applied."""
    opportunity, volunteer, campaign = (
        f"opp-{h.tag}-ghost",
        f"vol-{h.tag}-ghost",
        f"cmp-{h.tag}-ghost",
    )
    yield Attack("sign-up for an opportunity nobody published",
                 _participation(h, "volunteer.signed_up", at, h.volunteers[0], opportunity, h.campaign),
                 None, (ownership.Kind.OPPORTUNITY, opportunity), "unknown_opportunity")  # fmt: skip
    yield Attack("profile update of a volunteer nobody registered", event(
        "volunteer.profile_updated", h.next_id(), at, source=h.source, volunteer_id=volunteer,
        municipality="doha"), None, (ownership.Kind.VOLUNTEER, volunteer), "volunteer_registrar")  # fmt: skip
    yield Attack("update of a campaign nobody launched", event(
        "campaign.updated", h.next_id(), at, source=h.source, campaign_id=campaign, target_volunteers=5,
        ends_on=None), None, (ownership.Kind.CAMPAIGN, campaign), "campaign_owner")  # fmt: skip


def first_attacks(view: HonestView, h: Partner, now: dt.datetime) -> list[Attack]:
    """Attacks sent before the honest stream, each reusing the id of an honest event.

    None of them makes a claim (a claim made first would be a squat, which first-claim-wins
    grants by design): the ones that need an honest claim are parked until it arrives,
    then refused; the others are refused at once.
    """
    at = now - dt.timedelta(minutes=3)
    [campaign] = view.target_campaigns(1)
    [opportunity] = view.target_opportunities(1)
    [volunteer] = view.target_volunteers(1)
    org = view.target_orgs(1)[0]
    made = [
        Attack("update an honest campaign before its launch arrives", event(
            "campaign.updated", h.next_id(), at, source=h.source, campaign_id=campaign, target_hours=1,
            target_volunteers=None, ends_on=None), CAMPAIGN_OWNER),
        Attack("sign an honest volunteer up for an honest opportunity before it is published",
               _participation(h, "volunteer.signed_up", at, volunteer, opportunity, h.campaign),
               OPPORTUNITY_CAMPAIGN),
        Attack("check in an honest volunteer under an honest campaign not launched yet",
               _participation(h, "volunteer.checked_in", at, volunteer, opportunity,
                              view.opportunities[opportunity]), CAMPAIGN_OWNER),
        Attack("update an honest volunteer before the registration arrives", event(
            "volunteer.profile_updated", h.next_id(), at, source=h.source, volunteer_id=volunteer,
            phone="+97466609999", municipality=None, language=None), REGISTRAR),
        Attack("suspend an honest org before it registers", event(
            "organization.suspended", h.next_id(), at, source=h.source, org_id=org, reason="Expired"),
            ORG_SUBJECT),
        Attack("notification.sent from a partner", event(
            "notification.sent", h.next_id(), at, source=h.source, volunteer_id=volunteer),
            PLATFORM_ONLY),
        Attack("its own campaign update in 2099", event(
            "campaign.updated", h.next_id(), FAR_FUTURE, source=h.source, campaign_id=h.campaign,
            target_volunteers=7, ends_on=None), IN_FUTURE),
    ]  # fmt: skip
    reused = reuse_honest_ids([a.doc for a in made], view, prefer=[campaign, volunteer, org])
    for attack, doc in zip(made, reused, strict=True):
        attack.doc, attack.first = doc, True
    return made


def garbage(key: bytes, hostile: Partner) -> list[Garbage]:
    """Bytes no consumer may choke on, keyed like honest records so they share partitions."""
    signup = event("volunteer.signed_up", hostile.next_id(), FAR_FUTURE, source=hostile.source,
                   volunteer_id=key.decode(), opportunity_id=hostile.opportunity,
                   campaign_id=hostile.campaign)  # fmt: skip
    out_of_range = {**signup, "time": OUT_OF_RANGE_TIME}
    deep = orjson.dumps(signup)[:-1] + b',"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    large = {**signup, "data": {**signup["data"], "pad": "x" * 70_000}}
    misplaced = event("campaign.updated", hostile.next_id(), FAR_FUTURE, source=hostile.source,
                      campaign_id=hostile.campaign, target_hours=5)  # fmt: skip
    unknown = {k: v for k, v in signup.items() if k != "dataschema"}
    unknown["type"] = "volunteer.teleported"
    s, v, json = SIGNUPS.name, VOLUNTEERS.name, orjson.dumps
    return [
        Garbage("time out of range in UTC", s, key, json(out_of_range), "invalid_event",
                "out_of_range", (422, "invalid_events", "out_of_range")),
        Garbage("truncated JSON", s, key, json(signup)[:57], "invalid_json", "Invalid JSON",
                (400, "malformed", None)),
        Garbage("deep nesting", s, key, deep, "invalid_json", "recursion limit",
                (400, "malformed", None)),
        Garbage("a tombstone (no value)", s, key, None, "invalid_json", "EOF",
                (400, "malformed", None)),
        Garbage("not UTF-8", v, key, b"\xff\xfe{\x00", "invalid_json", "Invalid JSON",
                (400, "malformed", None)),
        # A record holds one event; at the gateway an array is a batch (of one 2099 event).
        Garbage("a JSON array", v, key, json([signup]), "not_an_object", "array",
                (422, "invalid_time", "time_in_future")),
        Garbage("an unknown type", s, key, json(unknown), "unknown_type", "unknown event type",
                (422, "invalid_events", "unknown_type")),
        Garbage("over 64 KiB", s, key, json(large), "too_large", "65536",
                (413, "too_large", None)),
        Garbage("a campaign fact on the sign-ups topic", s, key, json(misplaced), "wrong_topic",
                "belongs on tatawwu.campaigns", None),
    ]  # fmt: skip
