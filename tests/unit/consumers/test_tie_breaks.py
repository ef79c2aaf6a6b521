"""Ties break one way whatever the arrival order: by (time, id, source), in byte order."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from consumers.campaigns.rules import fold_history
from consumers.history import ordered, tie_key
from consumers.organizations import earliest_launches
from consumers.participations import fold_participations
from schemas.attendance import VolunteerCheckedIn, VolunteerHoursVerified
from schemas.campaigns import CampaignLaunched
from schemas.common import ID_PATTERN, SOURCE_PATTERN, CampaignKind, CheckInMethod, Municipality
from schemas.registry import new_event
from schemas.signups import VolunteerSignedUp, VolunteerSignupWithdrawn

T0 = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)
PAIR = {"volunteer_id": "v-1", "opportunity_id": "o-1", "campaign_id": "cmp-a"}
PARTNER, PLATFORM = "partner/org-a", "platform/admin"


def launch(campaign: str, org: str, event_id: str, source: str = PARTNER) -> object:
    data = CampaignLaunched(
        campaign_id=campaign, org_id=org, title_ar="حملة", title_en="Drive",
        kind=CampaignKind.VOLUNTEER_DRIVE, municipality=Municipality.DOHA,
        starts_on=dt.date(2026, 3, 1), ends_on=dt.date(2026, 3, 31), target_volunteers=1,
        target_hours=1,
    )  # fmt: skip
    return new_event(data, source=source, event_id=event_id, time=T0)


def test_a_sign_up_tie_breaks_on_the_id_in_byte_order() -> None:
    """At one instant "a-1" is later than "A-1" (bytes), though en-US sorts it first."""
    signup = new_event(VolunteerSignedUp(**PAIR), source=PARTNER, event_id="a-1", time=T0)
    withdrawal = new_event(
        VolunteerSignupWithdrawn(**PAIR), source=PARTNER, event_id="A-1", time=T0
    )
    for events in ([signup, withdrawal], [withdrawal, signup]):
        [row] = fold_participations(events).values()
        assert (row.signup_status, row.signup_stamp) == ("signed_up", (T0, "a-1", PARTNER))


def test_two_sources_sending_one_id_at_one_instant_break_the_tie_on_the_source() -> None:
    """The same id from a partner and the platform: the source decides, not the arrival."""
    hours = {"verified_by": "staff-1", **PAIR}
    partner = new_event(
        VolunteerHoursVerified(hours=2.0, **hours), source=PARTNER, event_id="e-1", time=T0
    )
    platform = new_event(
        VolunteerHoursVerified(hours=3.0, **hours), source=PLATFORM, event_id="e-1", time=T0
    )
    for events in ([partner, platform], [platform, partner]):
        [row] = fold_participations(events).values()
        assert (row.hours, row.hours_stamp) == (3.0, (T0, "e-1", PLATFORM))


def test_a_pair_keeps_the_smallest_campaign_its_facts_name() -> None:
    """A fact naming another campaign cannot win by arriving first."""
    signup = new_event(VolunteerSignedUp(**PAIR), source=PARTNER, event_id="e-1", time=T0)
    mislabelled = new_event(
        VolunteerCheckedIn(**{**PAIR, "campaign_id": "cmp_a"}, at=T0, method=CheckInMethod.QR),
        source=PARTNER,
        event_id="e-2",
        time=T0,
    )
    for events in ([signup, mislabelled], [mislabelled, signup]):
        [row] = fold_participations(events).values()
        assert row.campaign_id == "cmp-a"  # "-" < "_" in bytes; en-US says the reverse


def test_a_campaign_belongs_to_the_organisation_of_its_earliest_launch() -> None:
    """A re-launch, earlier in arrival but later by (time, id), does not move the owner."""
    first = (T0, "A-1", "campaign.launched", {"org_id": "org-a", "title_en": "First"})
    again = (T0, "a-1", "campaign.launched", {"org_id": "org-b", "title_en": "Again"})
    for history in ([first, again], [again, first]):
        row = fold_history(history)
        assert (row["org_id"], row["title_en"], row["status"]) == ("org-a", "Again", "active")


def test_organizations_credit_the_same_launch_as_campaigns() -> None:
    """earliest_launches picks the earliest by (time, id, source), in any order."""
    owner = launch("cmp-a", "org-a", "A-1")
    later_id = launch("cmp-a", "org-b", "a-1")
    later_source = launch("cmp-a", "org-c", "A-1", source=PLATFORM)
    for events in ([owner, later_id, later_source], [later_source, later_id, owner]):
        assert earliest_launches(events) == {"cmp-a": (T0, "A-1", PARTNER, "org-a")}


ids = st.from_regex(ID_PATTERN, fullmatch=True)
sources = st.from_regex(SOURCE_PATTERN, fullmatch=True)


@given(a=ids, b=ids, s=sources, t=sources)
def test_a_tie_key_orders_like_the_id_then_the_source(a: str, b: str, s: str, t: str) -> None:
    """Comparing "<id> <source>" strings is comparing (id, source) pairs."""
    assert (tie_key(a, s) < tie_key(b, t)) == ((a, s) < (b, t))


def test_history_is_read_in_time_id_source_order() -> None:
    """Two sources' events with one id at one instant are folded in source order."""
    later = dt.timedelta(minutes=1)
    entries = [
        (T0 + later, tie_key("a", PARTNER), "x", {}),
        (T0, tie_key("b", PLATFORM), "x", {}),
        (T0, tie_key("b", PARTNER), "x", {}),
        (T0, tie_key("B", PLATFORM), "x", {}),
    ]
    assert [e[1] for e in ordered(entries[::-1])] == [
        "B platform/admin",
        "b partner/org-a",
        "b platform/admin",
        "a partner/org-a",
    ]
