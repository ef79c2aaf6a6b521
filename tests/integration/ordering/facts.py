"""Hypothesis strategies: small worlds of valid events (their deliveries: `deliveries.py`).

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
    consent = st.builds(Consent, sms=st.booleans(), email=st.booleans(), alerts=st.booleans())
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
