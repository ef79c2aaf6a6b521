"""The known ordering traps as one fixed scenario, tried before any drawn example.

Built from the same world as `facts.py` (its instants, sources and ids), delivered by
the `Run`s of `deliveries.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel

from schemas.attendance import VolunteerCheckedIn, VolunteerCheckedOut, VolunteerHoursVerified
from schemas.campaigns import CampaignKind, CampaignLaunched, OpportunityPublished
from schemas.common import (
    CheckInMethod,
    Consent,
    Gender,
    Language,
    Municipality,
    NationalityGroup,
    Sector,
)
from schemas.envelope import Event
from schemas.organizations import OrganizationRegistered
from schemas.registry import new_event
from schemas.signups import VolunteerSignedUp, VolunteerSignupWithdrawn
from schemas.volunteers import VolunteerProfileUpdated, VolunteerRegistered
from tests.integration.ordering.deliveries import Run
from tests.integration.ordering.facts import ATS, PLATFORM, SHIFTS, STARTS, TIMES


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
