"""The ownership rules as projectors apply them: settle, pending facts, suspensions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.envelope import Event
from schemas.ownership import Kind, Pending, Reason, Refused, TimeBounds, judge, settle
from tests.support.events import decoded, known_fields

BOUNDS = TimeBounds()
T0 = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)


def make(
    event_type: str,
    n: int = 0,
    *,
    source: str = "partner/org-a",
    time: str = "2026-05-31T12:00:00Z",
    **data: Any,
) -> Event[Any]:
    """A valid example event from `source`, the payload fields it has replaced."""
    fields = known_fields(event_type, data)
    return decoded(event_type, f"evt-{event_type}-{n}", time, source=source, **fields)


IDS = {"campaign_id": "cmp-a", "opportunity_id": "opp-a", "volunteer_id": "vol-1"}


def honest_world() -> list[Event[Any]]:
    """One organisation's facts, each needing the claims of others."""
    return [
        make("organization.registered", org_id="org-a"),
        make("campaign.launched", campaign_id="cmp-a", org_id="org-a"),
        make("campaign.updated", campaign_id="cmp-a"),
        make("opportunity.published", **IDS),
        make("volunteer.registered", volunteer_id="vol-1"),
        make("volunteer.consent_changed", volunteer_id="vol-1"),
        make("volunteer.signed_up", **IDS),
        make("volunteer.checked_in", **IDS),
        make("volunteer.hours_verified", **IDS),
        make("opportunity.cancelled", **IDS),
    ]


@settings(max_examples=50, deadline=None)
@given(st.permutations(range(10)))
def test_honest_facts_are_all_accepted_in_any_order(order: list[int]) -> None:
    """Whatever the order, every honest fact is accepted and the same claims are made."""
    world = honest_world()
    events = [world[i] for i in order]
    settled = settle(events, {}, [T0] * len(events), BOUNDS)
    assert (settled.refused, settled.pending) == ([], [])
    assert settled.claims == {
        (Kind.CAMPAIGN, "cmp-a"): "org-a",
        (Kind.OPPORTUNITY, "opp-a"): "cmp-a",
        (Kind.VOLUNTEER, "vol-1"): "org-a",
    }


def test_a_fact_whose_claim_has_not_arrived_is_pending() -> None:
    """A check-in for an opportunity never published waits for it (it is not refused)."""
    claims = {(Kind.CAMPAIGN, "cmp-a"): "org-a"}
    verdict = judge(make("volunteer.checked_in", **IDS), claims, T0, BOUNDS)
    assert verdict == Pending((Kind.OPPORTUNITY, "opp-a"))


def test_a_hostile_partner_cannot_touch_another_orgs_opportunity() -> None:
    """B names A's opportunity under B's own campaign: refused, whatever B claims."""
    claims = {
        (Kind.CAMPAIGN, "cmp-a"): "org-a",
        (Kind.CAMPAIGN, "cmp-b"): "org-b",
        (Kind.OPPORTUNITY, "opp-a"): "cmp-a",
    }
    b = {"source": "partner/org-b", "campaign_id": "cmp-b", "opportunity_id": "opp-a"}
    for event_type in (
        "opportunity.cancelled",
        "volunteer.signup_withdrawn",
        "opportunity.published",
    ):
        verdict = judge(make(event_type, **b), claims, T0, BOUNDS)
        assert isinstance(verdict, Refused), event_type
        assert (verdict.reason, verdict.rule) == (Reason.NOT_OWNER, "opportunity_campaign")


def test_a_suspension_refuses_new_facts_and_keeps_history() -> None:
    """A projector keeps facts timed before the suspension; the gateway refuses all."""
    suspended = dt.datetime(2026, 5, 31, 12, tzinfo=dt.UTC)
    claims = {(Kind.CAMPAIGN, "cmp-a"): "org-a", (Kind.OPPORTUNITY, "opp-a"): "cmp-a",
              (Kind.SUSPENSION, "org-a"): suspended.isoformat()}  # fmt: skip
    history = make("volunteer.checked_in", time="2026-05-31T12:00:00Z", **IDS)
    new = make("volunteer.checked_in", time="2026-05-31T12:00:01Z", **IDS)
    assert judge(history, claims, T0, BOUNDS) is None
    for verdict in (
        judge(new, claims, T0, BOUNDS),
        judge(history, claims, T0, BOUNDS, at_entry=True),
    ):
        assert isinstance(verdict, Refused)
        assert verdict.reason is Reason.ORGANIZATION_SUSPENDED


def test_the_first_claim_wins_within_a_sequence() -> None:
    """Two registrations of one volunteer by two partners: the second is refused."""
    first = make("volunteer.registered", 1, volunteer_id="vol-9")
    second = make("volunteer.registered", 2, source="partner/org-b", volunteer_id="vol-9")
    settled = settle([first, second], {}, [T0, T0], BOUNDS)
    assert settled.accepted == [0]
    assert [(i, r.rule) for i, r in settled.refused] == [(1, "volunteer_registrar")]


def test_the_platform_may_state_any_fact_but_not_out_of_bounds_times() -> None:
    """A platform source passes the ownership rules; time bounds still apply."""
    stop = make("volunteer.consent_changed", source="platform/sms", volunteer_id="vol-b")
    assert judge(stop, {(Kind.VOLUNTEER, "vol-b"): "org-b"}, T0, BOUNDS) is None
    late = make("volunteer.consent_changed", source="platform/sms", time="2030-01-01T00:00:00Z")
    verdict = judge(late, {}, T0, BOUNDS)
    assert isinstance(verdict, Refused)
    assert verdict.reason is Reason.TIME_IN_FUTURE


def test_check_in_moments_obey_the_time_bounds() -> None:
    """A check-in `at` in 2099 or before the epoch is refused at data.at."""
    claims = {(Kind.CAMPAIGN, "cmp-a"): "org-a", (Kind.OPPORTUNITY, "opp-a"): "cmp-a"}
    for at, reason in (("2099-01-01T00:00:00Z", Reason.TIME_IN_FUTURE),
                       ("2019-01-01T00:00:00Z", Reason.TIME_BEFORE_EPOCH)):  # fmt: skip
        verdict = judge(make("volunteer.checked_out", at=at, **IDS), claims, T0, BOUNDS)
        assert isinstance(verdict, Refused)
        assert (verdict.reason, verdict.path) == (reason, "data.at")
    assert judge(make("volunteer.checked_in", **IDS), claims, T0, BOUNDS) is None
