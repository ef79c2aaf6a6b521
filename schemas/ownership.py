"""Who may state which fact: the ownership rules, written once (pure; no I/O).

The log is shared by many partners, so every fact has an owner and only the owner (or
the platform) may state it:

| fact | owner |
|---|---|
| `organization.*` for X | X itself (`source` `partner/X`, `subject` X) |
| a campaign (`campaign.*`) | the organisation that launched it first (a launch from `partner/X` must name X as `data.org_id`) |
| an opportunity (`opportunity.*`) | bound to the campaign it was first published under; events naming it under another campaign are refused |
| sign-ups, attendance, hours | the organisation owning the opportunity's campaign |
| a volunteer's profile and consent | the organisation that registered the volunteer, and the platform |
| `notification.*` | the platform |

`platform/...` sources are the platform: they may state any fact (a volunteer's own STOP
reply is a platform fact). A suspended organisation states nothing new, while its history
stays: an entry point (the gateway) refuses everything it sends once suspended; a
projector, replaying a log that may have been written long after the facts happened,
refuses its facts timed after the suspension. Event time is bounded: at most `max_skew` ahead of the moment the fact
entered (now, at the gateway; the broker's append time, in a projector) and never before
the platform's epoch; so is the `at` of a check-in or check-out.

First claims win and never change: a launch claims its campaign for its organisation, a
publication binds its opportunity to its campaign, a registration claims its volunteer
for its registrar, a suspension records when. `judge` decides one event against the claims
known so far: accepted (None), `Refused` (with the rule, the field and a message that
quotes no value), or `Pending` (the claim it needs is not known yet: cross-topic order is
not guaranteed, so a projector parks such a fact until the claim arrives; the gateway,
which sees claims first, refuses it). `settle` decides a sequence, feeding each accepted
claim to the facts after it and retrying pending ones until nothing changes.

The terms (claims, verdicts, actors) live in `schemas.ownership_terms` and are
re-exported here; this module holds the rule table, `judge` and `settle`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.campaigns import (
    CampaignClosed,
    CampaignLaunched,
    CampaignUpdated,
    OpportunityPublished,
)
from schemas.envelope import Event
from schemas.organizations import OrganizationRegistered, OrganizationSuspended
from schemas.ownership_terms import (
    ATTENDANCE_TIMES,
    CAMPAIGN_EVENTS,
    CAMPAIGN_SCOPED_TYPES,
    CLAIMING,
    CLAIMING_SET,
    PARTICIPATION,
    PLATFORM,
    PLATFORM_ONLY,
    PLATFORM_ONLY_SET,
    PROFILE_TYPES,
    SCOPED,
    VOLUNTEER_EVENTS,
    Claims,
    Key,
    Kind,
    Pending,
    Reason,
    Refused,
    TimeBounds,
    Verdict,
    actor_of,
    claims_of,
    keys_for,
    needed_keys,
)
from schemas.volunteers import (
    VolunteerConsentChanged,
    VolunteerProfileUpdated,
    VolunteerRegistered,
)

__all__ = [
    "CAMPAIGN_EVENTS",
    "CAMPAIGN_SCOPED_TYPES",
    "CLAIMING",
    "PARTICIPATION",
    "PLATFORM",
    "PLATFORM_ONLY",
    "PROFILE_TYPES",
    "SCOPED",
    "VOLUNTEER_EVENTS",
    "Claims",
    "Key",
    "Kind",
    "Pending",
    "Reason",
    "Refused",
    "Settled",
    "TimeBounds",
    "Verdict",
    "actor_of",
    "check_time",
    "claims_of",
    "judge",
    "keys_for",
    "needed_keys",
    "settle",
]

_CAMPAIGN, _OPPORTUNITY, _VOLUNTEER, _SUSPENSION = (
    Kind.CAMPAIGN, Kind.OPPORTUNITY, Kind.VOLUNTEER, Kind.SUSPENSION,
)  # fmt: skip


def check_time(event: Event[Any], entered: dt.datetime, bounds: TimeBounds) -> Refused | None:
    """Refuse an event time too far ahead of when the fact entered, or before the epoch."""
    if event.time > entered + bounds.max_skew:
        skew = int(bounds.max_skew.total_seconds())
        message = f"time is more than {skew} s ahead of when the event was received"
        return Refused(Reason.TIME_IN_FUTURE, "time_in_future", "time", message)
    if event.time < bounds.epoch:
        message = f"time is before the platform's epoch ({bounds.epoch.date().isoformat()})"
        return Refused(Reason.TIME_BEFORE_EPOCH, "time_before_epoch", "time", message)
    return None


def _check_at(at: dt.datetime, entered: dt.datetime, bounds: TimeBounds) -> Refused | None:
    """A check-in or check-out moment obeys the same bounds as the event's time."""
    if at > entered + bounds.max_skew:
        message = "a check-in or check-out cannot be later than when the event was received"
        return Refused(Reason.TIME_IN_FUTURE, "time_in_future", "data.at", message)
    if at < bounds.epoch:
        message = "a check-in or check-out cannot be before the platform's epoch"
        return Refused(Reason.TIME_BEFORE_EPOCH, "time_before_epoch", "data.at", message)
    return None


def _not_owner(rule: str, path: str, message: str) -> Refused:
    return Refused(Reason.NOT_OWNER, rule, path, message)


_FOREIGN_CAMPAIGN = _not_owner(
    "campaign_owner", "data.campaign_id", "the campaign belongs to another organisation"
)
_FOREIGN_OPPORTUNITY = _not_owner(
    "opportunity_campaign",
    "data.opportunity_id",
    "the opportunity was first published under another campaign",
)


def _campaign_owner(campaign: str, actor: str, claims: Claims) -> Verdict:
    owner = claims.get((_CAMPAIGN, campaign))
    if owner is None:
        return Pending((_CAMPAIGN, campaign))
    return None if owner == actor else _FOREIGN_CAMPAIGN


def _organization(event: Event[Any], data: Any, actor: str, claims: Claims) -> Verdict:
    if event.subject != actor:
        message = "organisation events may only be stated by that organisation"
        return _not_owner("organization", "subject", message)
    return None


def _launch(event: Event[Any], data: Any, actor: str, claims: Claims) -> Verdict:
    if data.org_id != actor:
        message = "a launch must name the launching organisation as data.org_id"
        return _not_owner("organization", "data.org_id", message)
    owner = claims.get((_CAMPAIGN, data.campaign_id))
    if owner is not None and owner != actor:
        message = "the campaign was first launched by another organisation"
        return _not_owner("campaign_owner", "data.campaign_id", message)
    return None


def _campaign(event: Event[Any], data: Any, actor: str, claims: Claims) -> Verdict:
    return _campaign_owner(data.campaign_id, actor, claims)


def _publish(event: Event[Any], data: Any, actor: str, claims: Claims) -> Verdict:
    if (verdict := _campaign_owner(data.campaign_id, actor, claims)) is not None:
        return verdict
    bound = claims.get((_OPPORTUNITY, data.opportunity_id))
    return None if bound is None or bound == data.campaign_id else _FOREIGN_OPPORTUNITY


def _scoped(event: Event[Any], data: Any, actor: str, claims: Claims) -> Verdict:
    """Opportunity cancellations and participation facts: campaign owner, then binding."""
    campaign = data.campaign_id
    if (verdict := _campaign_owner(campaign, actor, claims)) is not None:
        return verdict
    bound = claims.get((_OPPORTUNITY, data.opportunity_id))
    if bound is None:
        return Pending((_OPPORTUNITY, data.opportunity_id))
    return None if bound == campaign else _FOREIGN_OPPORTUNITY


def _register(event: Event[Any], data: Any, actor: str, claims: Claims) -> Verdict:
    registrar = claims.get((_VOLUNTEER, data.volunteer_id))
    if registrar is not None and registrar != actor:
        message = "the volunteer was registered by another organisation"
        return _not_owner("volunteer_registrar", "data.volunteer_id", message)
    return None


def _profile(event: Event[Any], data: Any, actor: str, claims: Claims) -> Verdict:
    registrar = claims.get((_VOLUNTEER, data.volunteer_id))
    if registrar is None:
        return Pending((_VOLUNTEER, data.volunteer_id))
    if registrar != actor:
        message = "only the registering organisation or the platform may change this"
        return _not_owner("volunteer_registrar", "data.volunteer_id", message)
    return None


# One rule per payload class (a dict lookup: this runs for every event a projector reads).
_RULES = {
    OrganizationRegistered: _organization,
    OrganizationSuspended: _organization,
    CampaignLaunched: _launch,
    CampaignUpdated: _campaign,
    CampaignClosed: _campaign,
    OpportunityPublished: _publish,
    VolunteerRegistered: _register,
    VolunteerProfileUpdated: _profile,
    VolunteerConsentChanged: _profile,
    **dict.fromkeys(SCOPED, _scoped),
}
_PLATFORM_ONLY_REFUSAL = Refused(
    Reason.PLATFORM_ONLY,
    "platform_only",
    "source",
    "notification and erasure facts are stated by the platform only",
)
_SUSPENDED = Refused(
    Reason.ORGANIZATION_SUSPENDED,
    "organization_suspended",
    "source",
    "the organisation is suspended and may not state new facts",
)


def judge(
    event: Event[Any],
    claims: Claims,
    entered: dt.datetime,
    bounds: TimeBounds,
    *,
    at_entry: bool = False,
) -> Verdict:
    """May `event`'s source state it, given the claims known and when the fact entered?

    `at_entry`: judged where the fact enters (the gateway), so a suspension refuses it
    whatever its time; elsewhere only facts timed after the suspension are refused.
    """
    actor = actor_of(event.source)
    data = event.data
    cls = type(data)
    if cls in PLATFORM_ONLY_SET and actor != PLATFORM:
        return _PLATFORM_ONLY_REFUSAL
    time = event.time
    if time > entered + bounds.max_skew or time < bounds.epoch:
        return check_time(event, entered, bounds)
    if cls in ATTENDANCE_TIMES and (refused := _check_at(data.at, entered, bounds)):
        return refused
    if actor == PLATFORM:
        return None
    suspended = claims.get((_SUSPENSION, actor))
    if suspended is not None and _after_suspension(event, entered, suspended, at_entry):
        return _SUSPENDED
    rule = _RULES.get(cls)
    return None if rule is None else rule(event, data, actor, claims)


def _after_suspension(
    event: Event[Any], entered: dt.datetime, suspended: str, at_entry: bool
) -> bool:
    at = dt.datetime.fromisoformat(suspended)
    return entered >= at if at_entry else event.time > at


@dataclass
class Settled:
    """The decision on a sequence of facts (indexes into it), and the claims it made."""

    accepted: list[int]
    refused: list[tuple[int, Refused]]
    pending: list[tuple[int, Pending]]
    claims: dict[Key, str]  # new claims made by the accepted facts (first wins)


def settle(
    events: Sequence[Event[Any]],
    known: Claims,
    entered: Sequence[dt.datetime],
    bounds: TimeBounds,
    *,
    at_entry: bool = False,
) -> Settled:
    """Judge facts in order, each seeing the claims of those accepted before it.

    Pending facts are judged again once a pass accepted anything, until nothing changes,
    so a batch holding a sign-up and (later in it) its opportunity's publication accepts
    both whatever their order in the batch.
    """
    claims: dict[Key, str] = {}
    view = dict(known)  # the known claims, and those made so far in this sequence
    accepted: list[int] = []
    refused: list[tuple[int, Refused]] = []
    todo = range(len(events))
    while True:
        pending: list[tuple[int, Pending]] = []
        progress = False
        for index in todo:
            event = events[index]
            verdict = judge(event, view, entered[index], bounds, at_entry=at_entry)
            if verdict is None:
                accepted.append(index)
                progress = True
                if type(event.data) in CLAIMING_SET:
                    for key, owner in claims_of(event):
                        if key not in view:
                            view[key] = claims[key] = owner
            elif type(verdict) is Pending:
                pending.append((index, verdict))
            else:
                refused.append((index, verdict))  # type: ignore[arg-type]
        if not pending or not progress:
            return Settled(sorted(accepted), sorted(refused, key=_first), pending, claims)
        todo = [index for index, _ in pending]


def _first(item: tuple[int, Any]) -> int:
    return item[0]
