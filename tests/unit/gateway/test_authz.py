"""Who may emit what: one row per rule, for partner and platform-admin keys."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from producers.gateway import authz
from producers.gateway.keys import Principal
from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.examples import example

ORG, OTHER = "org-a", "org-b"
PARTNER = Principal("k1", ORG)
ADMIN = Principal("k0", "platform", is_admin=True)
OWNERS = {"cmp-a": ORG, "cmp-b": OTHER}


def make(event_type: str, *, source: str = f"partner/{ORG}", **data: Any) -> Event[Any]:
    """A valid example event with its source and payload fields replaced."""
    document = example(event_type)
    document["source"] = source
    document["data"].update(data)
    key_field = decode_event(orjson.dumps(example(event_type))).key_field  # type: ignore[union-attr]
    document["subject"] = document["data"][key_field]
    result = decode_event(orjson.dumps(document))
    assert isinstance(result, Event), result
    return result


CASES: list[tuple[str, Principal, Event[Any], str | None]] = [
    ("own volunteer registration", PARTNER, make("volunteer.registered"), None),
    ("consent change via any partner", PARTNER, make("volunteer.consent_changed"), None),
    ("source of another org", PARTNER, make("volunteer.registered", source=f"partner/{OTHER}"), "source"),
    ("platform source", PARTNER, make("volunteer.registered", source="platform/sim"), "source"),
    ("own organisation", PARTNER, make("organization.registered", org_id=ORG), None),
    ("another organisation", PARTNER, make("organization.suspended", org_id=OTHER), "organization"),
    ("launch for itself", PARTNER, make("campaign.launched", campaign_id="cmp-a", org_id=ORG), None),
    ("launch for another org", PARTNER, make("campaign.launched", campaign_id="cmp-a", org_id=OTHER), "organization"),
    ("launch of a campaign another org claimed", PARTNER, make("campaign.launched", campaign_id="cmp-b", org_id=ORG), "campaign_owner"),
    ("update own campaign", PARTNER, make("campaign.updated", campaign_id="cmp-a"), None),
    ("close another org's campaign", PARTNER, make("campaign.closed", campaign_id="cmp-b"), "campaign_owner"),
    ("opportunity in own campaign", PARTNER, make("opportunity.published", campaign_id="cmp-a"), None),
    ("opportunity in unknown campaign", PARTNER, make("opportunity.cancelled", campaign_id="cmp-x"), "campaign_owner"),
    ("sign-up in own campaign", PARTNER, make("volunteer.signed_up", campaign_id="cmp-a"), None),
    ("sign-up in another org's campaign", PARTNER, make("volunteer.signed_up", campaign_id="cmp-b"), "campaign_owner"),
    ("check-in in another org's campaign", PARTNER, make("volunteer.checked_in", campaign_id="cmp-b"), "campaign_owner"),
    ("hours in own campaign", PARTNER, make("volunteer.hours_verified", campaign_id="cmp-a"), None),
    ("notification from a partner", PARTNER, make("notification.sent"), "platform_only"),
    ("admin, another org's campaign", ADMIN, make("volunteer.checked_in", campaign_id="cmp-b"), None),
    ("admin, unknown campaign", ADMIN, make("campaign.closed", campaign_id="cmp-x"), None),
    ("admin, platform source", ADMIN, make("notification.sent", source="platform/notifications"), None),
    ("admin, any organisation", ADMIN, make("organization.suspended", source=f"partner/{OTHER}", org_id=OTHER), None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("principal", "event", "rule"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_rule_allows_or_refuses_as_documented(
    principal: Principal, event: Event[Any], rule: str | None
) -> None:
    """The rule broken (or None) is the one the table names."""
    refusal = authz.refusal(principal, 0, event, OWNERS)
    assert (refusal.rule if refusal else None) == rule


def test_an_unknown_campaign_is_refused_with_a_clear_message() -> None:
    """The partner is told which campaign is not theirs."""
    refusal = authz.refusal(PARTNER, 3, make("volunteer.no_show", campaign_id="cmp-x"), OWNERS)
    assert refusal is not None
    assert refusal.as_dict() == {
        "index": 3, "path": "data.campaign_id", "rule": "campaign_owner",
        "message": "campaign cmp-x is not registered to your organisation",
    }  # fmt: skip


def test_launches_claim_for_the_caller_and_admins_claim_for_the_named_org() -> None:
    """A partner claims only launches naming itself; an admin claims for the org named."""
    launches = [
        make("campaign.launched", campaign_id="cmp-1", org_id=ORG),
        make("campaign.launched", campaign_id="cmp-2", org_id=OTHER),
    ]
    assert authz.campaign_claims(PARTNER, launches) == {"cmp-1": ORG}
    assert authz.campaign_claims(ADMIN, launches) == {"cmp-1": ORG, "cmp-2": OTHER}


def test_refusals_name_every_offending_index_of_a_batch() -> None:
    """In a batch, each refused event is reported with its index; allowed ones are not."""
    batch = [
        make("volunteer.registered"),
        make("volunteer.signed_up", campaign_id="cmp-b"),
        make("campaign.updated", campaign_id="cmp-a"),
        make("organization.suspended", org_id=OTHER),
    ]
    assert authz.campaigns_named(batch) == {"cmp-a", "cmp-b"}
    assert [r.index for r in authz.refusals(PARTNER, batch, OWNERS)] == [1, 3]
