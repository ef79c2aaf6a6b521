"""Who may emit what through the gateway: one row per rule, for partner and admin keys."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from producers.gateway.keys import Principal
from schemas import admission as authz
from schemas.envelope import Event
from schemas.ownership import Kind, TimeBounds
from tests.support.events import decoded

ORG, OTHER = "org-a", "org-b"
PARTNER = Principal("k1", ORG)
ADMIN = Principal("k0", "platform", is_admin=True)
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
BOUNDS = TimeBounds()
CLAIMS = {
    (Kind.CAMPAIGN, "cmp-a"): ORG,
    (Kind.CAMPAIGN, "cmp-b"): OTHER,
    (Kind.OPPORTUNITY, "opp-a"): "cmp-a",
    (Kind.OPPORTUNITY, "opp-b"): "cmp-b",
    (Kind.VOLUNTEER, "vol-a"): ORG,
    (Kind.VOLUNTEER, "vol-b"): OTHER,
    (Kind.SUSPENSION, "org-s"): "2026-01-01T00:00:00+00:00",
}


def make(
    event_type: str,
    *,
    source: str = f"partner/{ORG}",
    time: str = "2026-05-31T12:00:00Z",
    **data: Any,
) -> Event[Any]:
    """A valid example event with its source and payload fields replaced."""
    return decoded(event_type, None, time, source=source, **data)


A = {"campaign_id": "cmp-a", "opportunity_id": "opp-a"}
B = {"campaign_id": "cmp-b", "opportunity_id": "opp-b"}
CASES: list[tuple[str, Principal, Event[Any], str | None]] = [
    ("own volunteer registration", PARTNER, make("volunteer.registered", volunteer_id="vol-new"), None),
    ("registration of a volunteer another org registered", PARTNER, make("volunteer.registered", volunteer_id="vol-b"), "volunteer_registrar"),
    ("consent change of its own volunteer", PARTNER, make("volunteer.consent_changed", volunteer_id="vol-a"), None),
    ("consent change of another org's volunteer", PARTNER, make("volunteer.consent_changed", volunteer_id="vol-b"), "volunteer_registrar"),
    ("profile update of an unknown volunteer", PARTNER, make("volunteer.profile_updated", volunteer_id="vol-x"), "volunteer_registrar"),
    ("source of another org", PARTNER, make("volunteer.registered", source=f"partner/{OTHER}"), "source"),
    ("platform source", PARTNER, make("volunteer.registered", source="platform/sim"), "source"),
    ("own organisation", PARTNER, make("organization.registered", org_id=ORG), None),
    ("another organisation", PARTNER, make("organization.suspended", org_id=OTHER), "organization"),
    ("launch for itself", PARTNER, make("campaign.launched", campaign_id="cmp-a", org_id=ORG), None),
    ("launch for another org", PARTNER, make("campaign.launched", campaign_id="cmp-new", org_id=OTHER), "organization"),
    ("launch of a campaign another org claimed", PARTNER, make("campaign.launched", campaign_id="cmp-b", org_id=ORG), "campaign_owner"),
    ("update own campaign", PARTNER, make("campaign.updated", campaign_id="cmp-a"), None),
    ("close another org's campaign", PARTNER, make("campaign.closed", campaign_id="cmp-b"), "campaign_owner"),
    ("opportunity in own campaign", PARTNER, make("opportunity.published", campaign_id="cmp-a", opportunity_id="opp-new"), None),
    ("another org's opportunity under own campaign", PARTNER, make("opportunity.published", campaign_id="cmp-a", opportunity_id="opp-b"), "opportunity_campaign"),
    ("cancel another org's opportunity under own campaign", PARTNER, make("opportunity.cancelled", campaign_id="cmp-a", opportunity_id="opp-b"), "opportunity_campaign"),
    ("opportunity in unknown campaign", PARTNER, make("opportunity.cancelled", campaign_id="cmp-x"), "campaign_owner"),
    ("sign-up in own campaign", PARTNER, make("volunteer.signed_up", **A), None),
    ("sign-up for an unpublished opportunity", PARTNER, make("volunteer.signed_up", campaign_id="cmp-a", opportunity_id="opp-x"), "unknown_opportunity"),
    ("withdrawal from another org's opportunity under own campaign", PARTNER, make("volunteer.signup_withdrawn", campaign_id="cmp-a", opportunity_id="opp-b"), "opportunity_campaign"),
    ("sign-up in another org's campaign", PARTNER, make("volunteer.signed_up", **B), "campaign_owner"),
    ("check-in in another org's campaign", PARTNER, make("volunteer.checked_in", **B), "campaign_owner"),
    ("hours in own campaign", PARTNER, make("volunteer.hours_verified", **A), None),
    ("notification from a partner", PARTNER, make("notification.sent"), "platform_only"),
    ("a time far in the future", PARTNER, make("volunteer.checked_in", time="2099-01-01T00:00:00Z", **A), "time_in_future"),
    ("a time before the epoch", PARTNER, make("volunteer.checked_in", time="2019-12-31T23:59:59Z", **A), "time_before_epoch"),
    ("a suspended organisation", Principal("k2", "org-s"), make("organization.registered", source="partner/org-s", org_id="org-s"), "organization_suspended"),
    ("admin as another org, that org's campaign", ADMIN, make("volunteer.checked_in", source=f"partner/{OTHER}", **B), None),
    ("admin as an org, another org's campaign", ADMIN, make("volunteer.checked_in", source=f"partner/{OTHER}", **A), "campaign_owner"),
    ("admin, platform source, any campaign", ADMIN, make("campaign.closed", source="platform/ops", campaign_id="cmp-x"), None),
    ("admin, platform source, notification", ADMIN, make("notification.sent", source="platform/notifications"), None),
    ("admin, platform source, any volunteer", ADMIN, make("volunteer.consent_changed", source="platform/sms", volunteer_id="vol-b"), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("principal", "event", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule(principal: Principal, event: Event[Any], rule: str | None) -> None:
    """The refusal names the rule that forbids the event, or there is none."""
    refused, _ = authz.judge_request(principal, [event], CLAIMS, NOW, BOUNDS)
    assert [r.rule for r in refused] == ([] if rule is None else [rule])


def test_a_time_out_of_bounds_is_422_and_ownership_403() -> None:
    """Time rules answer 422 (the event is wrong), ownership rules 403 (the caller is)."""
    late = make("volunteer.checked_in", time="2099-01-01T00:00:00Z", **A)
    foreign = make("volunteer.checked_in", **B)
    refused, _ = authz.judge_request(PARTNER, [late, foreign], CLAIMS, NOW, BOUNDS)
    assert [(r.index, r.status) for r in refused] == [(0, 422), (1, 403)]


def test_a_batch_claims_in_order_so_launch_publish_and_sign_up_pass_together() -> None:
    """Facts of one request see the claims of the facts before them, in any order."""
    batch = [
        make("volunteer.signed_up", campaign_id="cmp-n", opportunity_id="opp-n"),
        make("opportunity.published", campaign_id="cmp-n", opportunity_id="opp-n"),
        make("campaign.launched", campaign_id="cmp-n", org_id=ORG),
    ]
    refused, claims = authz.judge_request(PARTNER, batch, CLAIMS, NOW, BOUNDS)
    assert refused == []
    assert claims == {(Kind.CAMPAIGN, "cmp-n"): ORG, (Kind.OPPORTUNITY, "opp-n"): "cmp-n"}


def test_messages_quote_no_value() -> None:
    """Refusal messages name the rule and field, never the ids or values sent."""
    events = [make("volunteer.signed_up", **B), make("volunteer.registered", volunteer_id="vol-b")]
    refused, _ = authz.judge_request(PARTNER, events, CLAIMS, NOW, BOUNDS)
    assert len(refused) == 2
    for refusal in refused:
        assert "cmp-b" not in refusal.message
        assert "vol-b" not in refusal.message
        assert OTHER not in refusal.message
