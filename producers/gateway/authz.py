"""Who may emit what through the gateway: the key's source rule, then the ownership rules.

A partner key belongs to one organisation X: every event's `source` must be `partner/X`.
A platform-admin key may use any `partner/<org>` or `platform/<name>` source. Either way
the event is then judged by `schemas.ownership` (the same rules every projector applies),
as its source's organisation or as the platform, against the claims the gateway knows:
the gateway sees claims before Kafka does, so a fact whose owner it cannot decide (an
unknown campaign, opportunity or volunteer) is refused, not parked, with a rule that
says what to send first. Time bounds are judged against now.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from producers.gateway.keys import Principal
from schemas import ownership
from schemas.envelope import Event
from schemas.ownership import Kind, Pending, Refused


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why one event of a request may not be emitted by this caller."""

    index: int
    path: str
    rule: str
    message: str
    status: int = 403  # 422 for an event time out of bounds

    def as_dict(self) -> dict[str, Any]:
        """The JSON form used in problem+json `errors` arrays."""
        return {"index": self.index, "path": self.path, "rule": self.rule, "message": self.message}


_UNKNOWN = {
    Kind.CAMPAIGN: (
        "campaign_owner",
        "data.campaign_id",
        "the campaign is not registered to your organisation (launch it first)",
    ),
    Kind.OPPORTUNITY: (
        "unknown_opportunity",
        "data.opportunity_id",
        "the opportunity is not published yet (publish it under its campaign first)",
    ),
    Kind.VOLUNTEER: (
        "volunteer_registrar",
        "data.volunteer_id",
        "the volunteer is not registered by your organisation",
    ),
}
_TIME_RULES = frozenset({ownership.Reason.TIME_IN_FUTURE, ownership.Reason.TIME_BEFORE_EPOCH})


def source_refusal(principal: Principal, index: int, event: Event[Any]) -> Refusal | None:
    """A non-admin key may only speak as its own organisation."""
    if principal.is_admin or event.source == f"partner/{principal.org_id}":
        return None
    message = f"source must be 'partner/{principal.org_id}' for this key"
    return Refusal(index, "source", "source", message)


def _refusal(index: int, verdict: Refused | Pending) -> Refusal:
    if isinstance(verdict, Pending):
        rule, path, message = _UNKNOWN[Kind(verdict.needs[0])]
        return Refusal(index, path, rule, message)
    status = 422 if verdict.reason in _TIME_RULES else 403
    return Refusal(index, verdict.path, verdict.rule, verdict.message, status)


def judge_request(
    principal: Principal,
    events: Sequence[Event[Any]],
    known: Mapping[ownership.Key, str],
    now: dt.datetime,
    bounds: ownership.TimeBounds,
) -> tuple[list[Refusal], dict[ownership.Key, str]]:
    """Every refusal of a request (empty: it may be emitted whole) and the claims it makes."""
    refusals = [r for i, e in enumerate(events) if (r := source_refusal(principal, i, e))]
    if refusals:
        return refusals, {}
    settled = ownership.settle(events, known, [now] * len(events), bounds, at_entry=True)
    verdicts: list[tuple[int, Refused | Pending]] = [*settled.refused, *settled.pending]
    refusals = sorted((_refusal(i, v) for i, v in verdicts), key=lambda r: r.index)
    return refusals, settled.claims
