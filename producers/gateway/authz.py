"""Who may emit what (pure rules, table-tested).

A partner key belongs to one organisation X:
- every event's `source` must be `partner/X`;
- `organization.*` events only for X itself (`subject` = X);
- campaign, opportunity, sign-up and attendance events (anything whose payload names a
  `campaign_id`) only for campaigns X owns. X owns a campaign when the gateway accepted
  X's `campaign.launched` for it first; a launch must also name X as `data.org_id`;
- `volunteer.registered`, `.profile_updated` and `.consent_changed` from any partner:
  volunteers register through whichever partner they meet first;
- `notification.*` never: only the platform's notifier emits those.
A platform-admin key may emit anything for any organisation (source `partner/<any>` or
`platform/<any>`); its launches still claim the campaign for the launching org.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from producers.gateway.keys import Principal
from schemas.envelope import Event

PLATFORM_ONLY_PREFIXES = ("notification.",)
LAUNCH = "campaign.launched"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one event of a request may not be emitted by this caller."""

    index: int
    path: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in problem+json `errors` arrays."""
        return {"index": self.index, "path": self.path, "rule": self.rule, "message": self.message}


def campaign_of(event: Event[Any]) -> str | None:
    """The campaign an event is scoped to, if any."""
    campaign = getattr(event.data, "campaign_id", None)
    return campaign if isinstance(campaign, str) else None


def campaign_claims(principal: Principal, events: Sequence[Event[Any]]) -> dict[str, str]:
    """The (campaign -> org) ownership claims the launches of a request make."""
    claims: dict[str, str] = {}
    for event in events:
        if event.type != LAUNCH:
            continue
        org = event.data.org_id
        if principal.is_admin or org == principal.org_id:
            claims.setdefault(event.data.campaign_id, org)
    return claims


def campaigns_named(events: Sequence[Event[Any]]) -> set[str]:
    """Every campaign the events are scoped to (to look their owners up in one query)."""
    return {c for event in events if (c := campaign_of(event)) is not None}


def refusal(
    principal: Principal, index: int, event: Event[Any], owners: Mapping[str, str]
) -> Refusal | None:
    """Why `principal` may not emit `event`, or None when it may."""
    if principal.is_admin:
        return None
    org = principal.org_id
    if event.source != f"partner/{org}":
        message = f"source must be 'partner/{org}' for this key"
        return Refusal(index, "source", "source", message)
    if event.type.startswith(PLATFORM_ONLY_PREFIXES):
        message = f"{event.type} events are emitted by the platform only"
        return Refusal(index, "type", "platform_only", message)
    if event.type.startswith("organization.") and event.subject != org:
        message = f"organisation events may only be emitted for your own organisation {org}"
        return Refusal(index, "subject", "organization", message)
    if event.type == LAUNCH and event.data.org_id != org:
        message = f"a campaign you launch must name your organisation {org} as data.org_id"
        return Refusal(index, "data.org_id", "organization", message)
    campaign = campaign_of(event)
    if campaign is not None and owners.get(campaign) != org:
        message = f"campaign {campaign} is not registered to your organisation"
        return Refusal(index, "data.campaign_id", "campaign_owner", message)
    return None


def refusals(
    principal: Principal, events: Sequence[Event[Any]], owners: Mapping[str, str]
) -> list[Refusal]:
    """Every refusal in a request (empty: the whole request may be emitted)."""
    return [r for i, e in enumerate(events) if (r := refusal(principal, i, e, owners)) is not None]
