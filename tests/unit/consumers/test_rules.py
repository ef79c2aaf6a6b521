"""The pure parts of the read models: order-free merges and history folds."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.campaigns.rules import fold_history
from consumers.organizations import fold_organization
from consumers.participation.kpi import trajectory
from consumers.participations import fold_participations, merge, participation_of
from consumers.volunteers import fold_profile
from schemas.decode import decode_event
from schemas.errors import DecodeError
from tests.support.events import decoded
from tests.support.streams import PARTICIPATION, build_stream

T0 = dt.datetime(2026, 3, 1, 8, tzinfo=dt.UTC)


def participation_events(n: int, seed: int) -> list:
    stream = build_stream(
        n, seed=seed, volunteers=20, opportunities=4, duplicate_share=0, invalid_share=0
    )
    events = [decode_event(value) for _, _, value in stream.records]
    return [e for e in events if not isinstance(e, DecodeError) and e.type in PARTICIPATION]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_participations_fold_to_the_same_rows_in_any_order(seed: int) -> None:
    """Shuffling the events (across and within topics) never changes the folded rows."""
    events = participation_events(300, seed)
    shuffled = list(events)
    random.Random(seed).shuffle(shuffled)
    assert fold_participations(shuffled) == fold_participations(events)


def test_the_same_event_twice_changes_nothing() -> None:
    """Merging a pair with itself is the identity (idempotence)."""
    for event in participation_events(200, 1):
        part = participation_of(event)
        assert merge(part, part) == part


PAIR = {"volunteer_id": "v-1", "opportunity_id": "o-1", "campaign_id": "c-1"}
SOURCE = "partner/org-1"


def test_a_withdrawal_arriving_before_its_signup_still_wins_when_later() -> None:
    """Sign-up status is the latest by event time, not by arrival."""
    signup = decoded("volunteer.signed_up", "e1", T0, source=SOURCE, **PAIR)
    withdraw = decoded(
        "volunteer.signup_withdrawn", "e2", T0 + dt.timedelta(hours=1), source=SOURCE, **PAIR
    )
    [row] = fold_participations([withdraw, signup]).values()
    assert row.signup_status == "withdrawn"


def test_check_out_before_check_in_gives_the_same_result() -> None:
    """Check-in keeps the earliest time and check-out the latest, whatever the order."""
    checkin = decoded(
        "volunteer.checked_in", "e1", T0, source=SOURCE, **PAIR, at=T0.isoformat(), method="qr"
    )
    later = T0 + dt.timedelta(hours=3)
    checkout = decoded(
        "volunteer.checked_out", "e2", later, source=SOURCE, **PAIR, at=later.isoformat()
    )
    assert fold_participations([checkout, checkin]) == fold_participations([checkin, checkout])
    [row] = fold_participations([checkout, checkin]).values()
    assert (row.checked_in_at, row.checked_out_at) == (T0, later)


def test_a_later_hours_verification_corrects_the_earlier_one() -> None:
    """Latest verification by (time, id) wins; ties break on id."""
    first = decoded(
        "volunteer.hours_verified", "e1", T0, source=SOURCE, **PAIR, hours=4.0, verified_by="org-1"
    )
    fix = decoded(
        "volunteer.hours_verified",
        "e2",
        T0 + dt.timedelta(days=1),
        source=SOURCE,
        **PAIR,
        hours=3.5,
        verified_by="org-1",
    )
    tie = decoded(
        "volunteer.hours_verified",
        "e3",
        T0 + dt.timedelta(days=1),
        source=SOURCE,
        **PAIR,
        hours=2.0,
        verified_by="org-1",
    )
    [row] = fold_participations([fix, first]).values()
    assert row.hours == 3.5
    assert row.first_verified_at == T0
    [row] = fold_participations([tie, fix, first]).values()
    assert row.hours == 2.0


def test_campaign_history_folds_updates_in_time_order() -> None:
    """An older update arriving last does not overwrite a newer one."""
    launched = (T0, "a", "campaign.launched", {"title_en": "Old", "target_volunteers": 10})
    newer = (T0 + dt.timedelta(days=2), "c", "campaign.updated", {"title_en": "New"})
    older = (
        T0 + dt.timedelta(days=1),
        "b",
        "campaign.updated",
        {"title_en": "Mid", "target_volunteers": 20},
    )
    row = fold_history([newer, launched, older])
    assert row == {"title_en": "New", "target_volunteers": 20, "status": "active"}
    closed = (T0 + dt.timedelta(days=3), "d", "campaign.closed", {"reason": "cancelled"})
    assert fold_history([closed, launched])["status"] == "cancelled"


def test_profile_updates_change_only_what_they_carry() -> None:
    """A profile update keeps other fields; a name change without family name clears it."""
    registered = (
        T0,
        "a",
        "volunteer.registered",
        {
            "given_name": "Amna",
            "family_name": "K",
            "municipality": "doha",
            "consent": {"sms": True, "email": True},
        },
    )
    moved = (
        T0 + dt.timedelta(days=1),
        "b",
        "volunteer.profile_updated",
        {"municipality": "al_khor"},
    )
    renamed = (T0 + dt.timedelta(days=2), "c", "volunteer.profile_updated", {"given_name": "Amna"})
    consent = (
        T0 + dt.timedelta(days=3),
        "d",
        "volunteer.consent_changed",
        {"consent": {"sms": False, "email": True}},
    )
    row = fold_profile([consent, renamed, moved, registered])
    assert row["municipality"] == "al_khor"
    assert row["family_name"] is None
    assert row["consent"] == {"sms": False, "email": True}
    assert row["status"] == "registered"


def test_an_organization_is_active_until_suspended_whatever_the_arrival_order() -> None:
    """Suspension folds after registration by time even when it arrives first."""
    registered = (T0, "a", "organization.registered", {"org_id": "o", "sector": "nonprofit"})
    suspended = (T0 + dt.timedelta(days=5), "b", "organization.suspended", {"org_id": "o"})
    assert fold_organization([registered])["status"] == "active"
    assert fold_organization([suspended, registered])["status"] == "suspended"


def test_trajectory_gives_the_compound_monthly_growth_to_ten_percent() -> None:
    """From 5% with 12 months left the rate must grow by 2^(1/12) - 1 a month."""
    as_of = dt.datetime(2029, 12, 31, tzinfo=dt.UTC)
    t = trajectory(0.05, as_of)
    assert t.months_left == 12
    assert t.monthly_growth_needed == pytest.approx(2 ** (1 / 12) - 1)
    assert trajectory(0.12, as_of).monthly_growth_needed == 0.0
    assert trajectory(0.0, as_of).monthly_growth_needed is None
