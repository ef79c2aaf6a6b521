"""Hypothesis strategies: small worlds of valid events, and plans to apply them in.

A world is a few dozen events about two organisations, three campaigns, three
opportunities and three volunteers, on every topic a read model listens to. They are
built with the registry's `new_event` and the payload classes, so each is valid. Event
times fall on four instants a minute apart in the last hour (the notifier ignores older
causes), so many events tie on `time`; their ids come from a pool whose members sort
differently in byte order and in an ICU en-US collation ("A-1" < "A_1" < "a-1" in bytes,
"a_1" < "A_1" < "a-1" in en-US), as do the aggregate ids.

Ids are unique per source only, as the runtime's deduplication by (source, id) allows:
two partners (or a partner and the platform) may both send an event "a-1", at the same
time, about the same thing; both are facts and ties must still break one way.

Beside honest facts a world holds some conflicting ones, deliberately: a campaign
launched again by another organisation, attendance naming another campaign than the
opportunity's. The runtime's ownership check will refuse most of them, but the read
models must still give one answer whatever order such facts arrive in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from schemas.attendance import (
    VolunteerCheckedIn,
    VolunteerCheckedOut,
    VolunteerHoursVerified,
    VolunteerNoShow,
)
from schemas.campaigns import (
    CampaignClosed,
    CampaignLaunched,
    CampaignUpdated,
    CloseReason,
    OpportunityCancelled,
    OpportunityPublished,
)
from schemas.common import (
    CampaignKind,
    CheckInMethod,
    Consent,
    Gender,
    Language,
    Municipality,
    NationalityGroup,
    Sector,
)
from schemas.envelope import Event
from schemas.organizations import OrganizationRegistered, OrganizationSuspended
from schemas.registry import new_event
from schemas.signups import VolunteerSignedUp, VolunteerSignupWithdrawn
from schemas.volunteers import (
    VolunteerConsentChanged,
    VolunteerProfileUpdated,
    VolunteerRegistered,
)

# Recent enough for the notifier (it ignores causes older than 48 h), fixed per session.
BASE = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) - dt.timedelta(minutes=50)
TIMES = tuple(BASE + dt.timedelta(minutes=m) for m in range(4))
# Check-in and check-out instants (`at`): a check-out may well precede a check-in.
ATS = tuple(BASE - dt.timedelta(hours=h) for h in (3, 2, 1))

# Ids whose byte order and en-US order disagree, aggregate ids included.
ID_POOL = tuple(
    [f"{a}{sep}{n}" for a in "aAbB" for sep in ("-", "_", ".", ":", "") for n in "12"]
    + ["a", "A", "b", "B"]
)
ORGS = ("org-a", "ORG_b")
OWNER = {"cmp-a": "org-a", "cmp_a": "ORG_b", "cmp.b": "org-a"}
CAMPAIGNS = tuple(OWNER)
OPPORTUNITY_CAMPAIGN = {"opp-1": "cmp-a", "OPP_2": "cmp_a", "opp.3": "cmp.b"}
OPPORTUNITIES = tuple(OPPORTUNITY_CAMPAIGN)
VOLUNTEERS = ("vol-1", "VOL_2", "vol.3")
STARTS = (dt.date(2026, 1, 10), dt.date(2026, 2, 1))
SHIFTS = tuple(BASE + dt.timedelta(days=d, hours=6) for d in (1, 3))


PLATFORM = "platform/admin"  # the platform may state any fact
REGISTRAR = {"vol-1": "org-a", "VOL_2": "ORG_b", "vol.3": "org-a"}


def owner_source(payload: BaseModel) -> str:
    """The source that owns the fact: the organisation it is about, or its campaign's."""
    if isinstance(payload, OrganizationRegistered | OrganizationSuspended):
        return f"partner/{payload.org_id}"
    if hasattr(payload, "opportunity_id"):
        return f"partner/{OWNER[OPPORTUNITY_CAMPAIGN[payload.opportunity_id]]}"
    if hasattr(payload, "campaign_id"):
        return f"partner/{OWNER[payload.campaign_id]}"
    return f"partner/{REGISTRAR[payload.volunteer_id]}"


def _organization_facts() -> st.SearchStrategy[BaseModel]:
    registered = st.builds(
        lambda org, name, sector: OrganizationRegistered(
            org_id=org, name_ar="منظمة", name_en=name, sector=sector
        ),
        st.sampled_from(ORGS),
        st.sampled_from(("Red Crescent", "Green Hands")),
        st.sampled_from((Sector.NONPROFIT, Sector.COMMUNITY)),
    )
    suspended = st.builds(
        lambda org: OrganizationSuspended(org_id=org, reason="Agreement expired"),
        st.sampled_from(ORGS),
    )
    return registered | suspended


def _volunteer_facts() -> st.SearchStrategy[BaseModel]:
    consent = st.builds(Consent, sms=st.booleans(), email=st.booleans())
    registered = st.builds(
        lambda vol, given, family, language, municipality, year, gender, group, agreed: (
            VolunteerRegistered(
                volunteer_id=vol,
                given_name=given,
                family_name=family,
                phone="+97455501234",
                email=f"{given.lower()}@example.qa",
                language=language,
                birth_year=year,
                gender=gender,
                nationality_group=group,
                municipality=municipality,
                consent=agreed,
            )
        ),
        st.sampled_from(VOLUNTEERS),
        st.sampled_from(("Amna", "Fatima")),
        st.sampled_from((None, "Al-Kuwari")),
        st.sampled_from((Language.AR, Language.EN)),
        st.sampled_from((Municipality.DOHA, Municipality.AL_KHOR)),
        st.sampled_from((1990, 2004)),
        st.sampled_from((Gender.FEMALE, Gender.MALE)),
        st.sampled_from((NationalityGroup.QATARI, NationalityGroup.RESIDENT)),
        consent,
    )
    changes = st.fixed_dictionaries(
        {},
        optional={
            "phone": st.sampled_from(("+97455500001", "+97455500002")),
            "language": st.sampled_from((Language.AR, Language.EN)),
            "municipality": st.sampled_from((Municipality.DOHA, Municipality.AL_RAYYAN)),
            "given_name": st.sampled_from(("Mariam", "Noora")),
        },
    )
    updated = st.builds(
        lambda vol, fields, family: VolunteerProfileUpdated(
            volunteer_id=vol,
            **fields,
            **({"family_name": family} if family and "given_name" in fields else {}),
        ),
        st.sampled_from(VOLUNTEERS),
        changes,
        st.sampled_from((None, "Al-Thani")),
    )
    consented = st.builds(
        lambda vol, agreed: VolunteerConsentChanged(volunteer_id=vol, consent=agreed),
        st.sampled_from(VOLUNTEERS),
        consent,
    )
    return registered | updated | consented


def _campaign_facts() -> st.SearchStrategy[BaseModel]:
    launched = st.builds(
        lambda campaign, hijack, title, start, target: CampaignLaunched(
            campaign_id=campaign,
            # Mostly re-launched by its owner; now and then by the other organisation.
            org_id=ORGS[1 - ORGS.index(OWNER[campaign])] if hijack else OWNER[campaign],
            title_ar="حملة",
            title_en=title,
            kind=CampaignKind.VOLUNTEER_DRIVE,
            municipality=Municipality.DOHA,
            starts_on=start,
            ends_on=start + dt.timedelta(days=30),
            target_volunteers=target,
            target_hours=4 * target,
        ),
        st.sampled_from(CAMPAIGNS),
        st.sampled_from((False, False, True)),
        st.sampled_from(("Beach clean-up", "Tree planting")),
        st.sampled_from(STARTS),
        st.sampled_from((10, 50)),
    )
    changes = st.fixed_dictionaries(
        {},
        optional={
            "title_en": st.sampled_from(("Renamed", "Renamed again")),
            "municipality": st.sampled_from((Municipality.AL_WAKRAH, Municipality.UMM_SALAL)),
            "ends_on": st.sampled_from((dt.date(2026, 3, 31), dt.date(2026, 4, 30))),
            "target_volunteers": st.sampled_from((20, 80)),
        },
    )
    updated = st.builds(
        lambda campaign, fields: CampaignUpdated(campaign_id=campaign, **fields),
        st.sampled_from(CAMPAIGNS),
        changes,
    )
    closed = st.builds(
        CampaignClosed,
        campaign_id=st.sampled_from(CAMPAIGNS),
        reason=st.sampled_from((CloseReason.COMPLETED, CloseReason.CANCELLED)),
    )
    published = st.builds(
        lambda opp, title, start, capacity: OpportunityPublished(
            opportunity_id=opp,
            campaign_id=OPPORTUNITY_CAMPAIGN[opp],
            title_ar="فرصة",
            title_en=title,
            starts_at=start,
            ends_at=start + dt.timedelta(hours=4),
            capacity=capacity,
            municipality=Municipality.DOHA,
            min_age=14,
        ),
        st.sampled_from(OPPORTUNITIES),
        st.sampled_from(("Morning shift", "Evening shift")),
        st.sampled_from(SHIFTS),
        st.sampled_from((1, 2, 30)),
    )
    cancelled = st.builds(
        lambda opp: OpportunityCancelled(
            opportunity_id=opp, campaign_id=OPPORTUNITY_CAMPAIGN[opp], reason="Weather"
        ),
        st.sampled_from(OPPORTUNITIES),
    )
    return launched | updated | closed | published | cancelled


def _participation_facts() -> st.SearchStrategy[BaseModel]:
    def pair(kind: type[BaseModel], **extra: Any) -> st.SearchStrategy[BaseModel]:
        return st.builds(
            lambda vol, opp, mislabelled, fields: kind(
                volunteer_id=vol,
                opportunity_id=opp,
                # Now and then a fact names another campaign than the opportunity's.
                campaign_id=mislabelled or OPPORTUNITY_CAMPAIGN[opp],
                **fields,
            ),
            st.sampled_from(VOLUNTEERS),
            st.sampled_from(OPPORTUNITIES),
            st.sampled_from((None, None, None, *CAMPAIGNS)),
            st.fixed_dictionaries(extra),
        )

    return st.one_of(
        pair(VolunteerSignedUp),
        pair(VolunteerSignupWithdrawn),
        pair(VolunteerCheckedIn, at=st.sampled_from(ATS), method=st.just(CheckInMethod.QR)),
        pair(VolunteerCheckedOut, at=st.sampled_from(ATS)),
        pair(
            VolunteerHoursVerified,
            hours=st.sampled_from((1.5, 2.0, 3.25, 8.0)),
            verified_by=st.just("staff-1"),
        ),
        pair(VolunteerNoShow),
    )


# Participation facts weigh double: they carry the most rules.
FACTS = st.one_of(
    _organization_facts(),
    _volunteer_facts(),
    _campaign_facts(),
    _participation_facts(),
    _participation_facts(),
)


@st.composite
def worlds(draw: st.DrawFn, min_size: int = 8, max_size: int = 36) -> list[Event[Any]]:
    """A few dozen valid events, many tied on `time`, ids unique per source only."""
    facts = draw(st.lists(FACTS, min_size=min_size, max_size=max_size))
    n = len(facts)
    by_platform = draw(st.lists(st.sampled_from((False, False, True)), min_size=n, max_size=n))
    wanted = draw(st.lists(st.integers(0, len(ID_POOL) - 1), min_size=n, max_size=n))
    times = draw(st.lists(st.sampled_from(TIMES), min_size=n, max_size=n))
    events, used = [], set()
    for payload, platform, index, time in zip(facts, by_platform, wanted, times, strict=True):
        source = PLATFORM if platform else owner_source(payload)
        while (source, ID_POOL[index]) in used:  # the runtime would drop it as a duplicate
            index = (index + 1) % len(ID_POOL)
        used.add((source, ID_POOL[index]))
        events.append(new_event(payload, source=source, event_id=ID_POOL[index], time=time))
    return events


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


def tie_scenario() -> tuple[list[Event[Any]], list[Run]]:
    """The known traps, always tried first: ties whose byte and en-US orders disagree.

    At one instant: a sign-up "a-1" and a withdrawal "A-1" of one pair ("A-1" < "a-1" in
    bytes, the reverse in en-US); hours verified as "B" and as "a.1" (likewise); a
    sign-up and a withdrawal both "b", from a partner and from the platform, and two
    sign-ups "b:1" likewise (the notifier owes each its messages); a campaign
    launched by its owner and by the platform for the other organisation, another one
    likewise under one id "a:2"; a profile
    registered and updated under one id by two sources; a check-out, then its check-in
    naming the wrong campaign; the opportunity published last. Delivered
    as one batch, then one event per batch forwards and backwards.
    """
    at = TIMES[0]
    pair = {"volunteer_id": "vol-1", "opportunity_id": "opp-1", "campaign_id": "cmp-a"}
    org_a, platform = "partner/org-a", PLATFORM
    facts: list[tuple[BaseModel, str, str]] = [
        (VolunteerSignedUp(**pair), org_a, "a-1"),
        (VolunteerSignupWithdrawn(**pair), org_a, "A-1"),
        (VolunteerHoursVerified(**pair, hours=2.0, verified_by="staff-1"), org_a, "B"),
        (VolunteerHoursVerified(**pair, hours=3.25, verified_by="staff-1"), org_a, "a.1"),
        (VolunteerSignedUp(**{**pair, "volunteer_id": "VOL_2"}), org_a, "b"),
        (VolunteerSignupWithdrawn(**{**pair, "volunteer_id": "VOL_2"}), platform, "b"),
        (VolunteerSignedUp(**{**pair, "volunteer_id": "vol.3"}), org_a, "b:1"),
        (VolunteerSignedUp(**{**pair, "opportunity_id": "opp.3"}), platform, "b:1"),
        (VolunteerCheckedOut(**pair, at=ATS[0]), org_a, "A_1"),
        (
            VolunteerCheckedIn(**{**pair, "campaign_id": "cmp_a"}, at=ATS[1], method=CheckInMethod.QR),
            org_a,
            "a_1",
        ),
        (
            CampaignLaunched(
                campaign_id="cmp-a", org_id="org-a", title_ar="حملة", title_en="Owner's",
                kind=CampaignKind.VOLUNTEER_DRIVE, municipality=Municipality.DOHA,
                starts_on=STARTS[0], ends_on=STARTS[0] + dt.timedelta(days=30),
                target_volunteers=10, target_hours=40,
            ),
            org_a,
            "a:1",
        ),
        (
            CampaignLaunched(
                campaign_id="cmp-a", org_id="ORG_b", title_ar="حملة", title_en="Other's",
                kind=CampaignKind.VOLUNTEER_DRIVE, municipality=Municipality.DOHA,
                starts_on=STARTS[1], ends_on=STARTS[1] + dt.timedelta(days=30),
                target_volunteers=50, target_hours=200,
            ),
            platform,
            "A:1",
        ),
        *[
            (
                CampaignLaunched(
                    campaign_id="cmp.b", org_id=org, title_ar="حملة", title_en="Twice",
                    kind=CampaignKind.AWARENESS, municipality=Municipality.AL_KHOR,
                    starts_on=STARTS[0], ends_on=STARTS[1], target_volunteers=5,
                    target_hours=20,
                ),
                source,
                "a:2",
            )
            for org, source in (("org-a", org_a), ("ORG_b", platform))
        ],
        (
            VolunteerRegistered(
                volunteer_id="vol-1", given_name="Amna", phone="+97455501234",
                email="amna@example.qa", language=Language.AR, birth_year=1990,
                gender=Gender.FEMALE, nationality_group=NationalityGroup.QATARI,
                municipality=Municipality.DOHA, consent=Consent(sms=True, email=True),
            ),
            org_a,
            "a.2",
        ),
        (
            VolunteerProfileUpdated(volunteer_id="vol-1", municipality=Municipality.AL_KHOR),
            platform,
            "a.2",
        ),
        (
            OrganizationRegistered(
                org_id="org-a", name_ar="منظمة", name_en="Red Crescent", sector=Sector.NONPROFIT
            ),
            org_a,
            "b.1",
        ),
        (
            OrganizationRegistered(
                org_id="org-a", name_ar="منظمة", name_en="Renamed", sector=Sector.COMMUNITY
            ),
            platform,
            "b.1",
        ),
        (
            OpportunityPublished(
                opportunity_id="opp-1", campaign_id="cmp-a", title_ar="فرصة",
                title_en="Morning shift", starts_at=SHIFTS[0],
                ends_at=SHIFTS[0] + dt.timedelta(hours=4), capacity=1,
                municipality=Municipality.DOHA, min_age=14,
            ),
            org_a,
            "B.1",
        ),
    ]  # fmt: skip
    events = [new_event(p, source=s, event_id=i, time=at) for p, s, i in facts]
    n = len(events)
    every = (True,) * (n - 1)
    return events, [
        Run(tuple(range(n)), (False,) * (n - 1), 0),
        Run(tuple(range(n)), every, 3),
        Run(tuple(reversed(range(n))), every, 5),
    ]
