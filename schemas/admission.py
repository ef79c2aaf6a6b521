"""Who may emit what where a fact enters: the speaker's source rule, then the ownership rules.

The same judging for both entry points: the gateway (the speaker is a partner key) and
the Kafka-ingress router (the speaker is the organisation whose ingress topic the record
was written to; Kafka ACLs guarantee only that organisation can write there). A
non-admin speaker belongs to one organisation X: every event's `source` must be
`partner/X`. A platform admin may use any `partner/<org>` or `platform/<name>` source.
Either way the event is then judged by `schemas.ownership` (the same rules every
projector applies), as its source's organisation or as the platform, against the claims
known: an entry point sees claims before Kafka does, so a fact whose owner it cannot
decide (an unknown campaign, opportunity or volunteer) is refused, not parked, with a
rule that says what to send first. Time bounds are judged against when the fact entered
(now at the gateway, the ingress record's broker timestamp at the router).

`judge_request` decides a gateway request whole (one refusal refuses it all);
`judge_each` decides record by record (the router forwards the accepted ones).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from schemas import ownership
from schemas.envelope import Event
from schemas.ownership import Kind, Pending, Refused
from schemas.personal import sealable_fields, sealed_values


class Speaker(Protocol):
    """Who states the facts: an organisation, or a platform admin."""

    @property
    def org_id(self) -> str: ...

    @property
    def is_admin(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Organisation:
    """A non-admin speaker known by its organisation only (the router's ingress topics)."""

    org_id: str
    is_admin: bool = False


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


def source_refusal(speaker: Speaker, index: int, event: Event[Any]) -> Refusal | None:
    """A non-admin speaker may only speak as its own organisation."""
    if speaker.is_admin or event.source == f"partner/{speaker.org_id}":
        return None
    message = f"source must be 'partner/{speaker.org_id}' for this key"
    return Refusal(index, "source", "source", message)


def encrypted_refusal(index: int, event: Event[Any]) -> Refusal | None:
    """Personal fields enter in clear: only the platform encrypts them (schemas.personal)."""
    if not sealable_fields(type(event.data)) or not (sealed := sealed_values(event.data)):
        return None
    message = "personal fields are sent in clear; the platform encrypts them"
    return Refusal(index, f"data.{sealed[0][0]}", "encrypted_field", message, 422)


def entry_refusal(speaker: Speaker, index: int, event: Event[Any]) -> Refusal | None:
    """What refuses an event before the ownership rules: its source, an encrypted field."""
    return source_refusal(speaker, index, event) or encrypted_refusal(index, event)


def _refusal(index: int, verdict: Refused | Pending) -> Refusal:
    if isinstance(verdict, Pending):
        rule, path, message = _UNKNOWN[Kind(verdict.needs[0])]
        return Refusal(index, path, rule, message)
    status = 422 if verdict.reason in _TIME_RULES else 403
    return Refusal(index, verdict.path, verdict.rule, verdict.message, status)


def judge_request(
    speaker: Speaker,
    events: Sequence[Event[Any]],
    known: Mapping[ownership.Key, str],
    now: dt.datetime,
    bounds: ownership.TimeBounds,
) -> tuple[list[Refusal], dict[ownership.Key, str]]:
    """Every refusal of a request (empty: it may be emitted whole) and the claims it makes."""
    refusals = [r for i, e in enumerate(events) if (r := entry_refusal(speaker, i, e))]
    if refusals:
        return refusals, {}
    settled = ownership.settle(events, known, [now] * len(events), bounds, at_entry=True)
    verdicts: list[tuple[int, Refused | Pending]] = [*settled.refused, *settled.pending]
    refusals = sorted((_refusal(i, v) for i, v in verdicts), key=lambda r: r.index)
    return refusals, settled.claims


def judge_each(
    speaker: Speaker,
    events: Sequence[Event[Any]],
    known: Mapping[ownership.Key, str],
    entered: Sequence[dt.datetime],
    bounds: ownership.TimeBounds,
) -> tuple[list[Refusal], dict[ownership.Key, str]]:
    """Each event on its own: the refusals (by index) and the claims the accepted ones make.

    An event with a foreign source (or an encrypted field) is refused and never seen by the ownership rules, so it
    claims nothing; the others are settled in order, each seeing the claims of the
    accepted ones before it (and a pending one retried once a later one made its claim).
    """
    refusals: list[Refusal] = []
    chosen: list[int] = []
    for index, event in enumerate(events):
        if (refused := entry_refusal(speaker, index, event)) is not None:
            refusals.append(refused)
        else:
            chosen.append(index)
    if len(chosen) == len(events):
        settled = ownership.settle(events, known, entered, bounds, at_entry=True)
        verdicts: list[tuple[int, Refused | Pending]] = [*settled.refused, *settled.pending]
        refusals = [_refusal(i, v) for i, v in verdicts]
    else:
        subset = [events[i] for i in chosen]
        settled = ownership.settle(subset, known, [entered[i] for i in chosen], bounds,
                                   at_entry=True)  # fmt: skip
        refusals += [_refusal(chosen[i], v) for i, v in [*settled.refused, *settled.pending]]
    refusals.sort(key=lambda r: r.index)
    return refusals, settled.claims
