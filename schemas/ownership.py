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
the platform's epoch.

First claims win and never change: a launch claims its campaign for its organisation, a
publication binds its opportunity to its campaign, a registration claims its volunteer
for its registrar, a suspension records when. `judge` decides one event against the claims
known so far: accepted (None), `Refused` (with the rule, the field and a message that
quotes no value), or `Pending` (the claim it needs is not known yet: cross-topic order is
not guaranteed, so a projector parks such a fact until the claim arrives; the gateway,
which sees claims first, refuses it). `settle` decides a sequence, feeding each accepted
claim to the facts after it and retrying pending ones until nothing changes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from schemas.attendance import (
    VolunteerCheckedIn,
    VolunteerCheckedOut,
    VolunteerHoursVerified,
    VolunteerNoShow,
)
from schemas.campaigns import (
    CampaignClosed,
    CampaignLaunched,
    CampaignUpdated,
    OpportunityCancelled,
    OpportunityPublished,
)
from schemas.envelope import Event
from schemas.notifications import NotificationFailed, NotificationSent, NotificationSuppressed
from schemas.organizations import OrganizationRegistered, OrganizationSuspended
from schemas.signups import VolunteerSignedUp, VolunteerSignupWithdrawn
from schemas.volunteers import (
    VolunteerConsentChanged,
    VolunteerProfileUpdated,
    VolunteerRegistered,
)

PLATFORM = "@platform"
"""The actor of every `platform/...` source (no organisation id can take this form)."""


class Kind(StrEnum):
    """What a claim is about."""

    CAMPAIGN = "campaign"  # campaign id -> owning organisation
    OPPORTUNITY = "opportunity"  # opportunity id -> the campaign it is bound to
    VOLUNTEER = "volunteer"  # volunteer id -> registering organisation (or PLATFORM)
    SUSPENSION = "suspension"  # organisation id -> when it was suspended (ISO 8601, UTC)


Key = tuple[str, str]  # (Kind, id)


class Reason(StrEnum):
    """Dead-letter reasons of the trust boundary (one per kind of refusal)."""

    NOT_OWNER = "not_owner"
    PLATFORM_ONLY = "platform_only"
    ORGANIZATION_SUSPENDED = "organization_suspended"
    TIME_IN_FUTURE = "time_in_future"
    TIME_BEFORE_EPOCH = "time_before_epoch"


@dataclass(frozen=True, slots=True)
class TimeBounds:
    """How far ahead of its entry an event's time may be, and the earliest time at all."""

    max_skew: dt.timedelta = dt.timedelta(minutes=5)
    epoch: dt.datetime = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True, slots=True)
class Refused:
    """Why a fact may not be stated by its source: the rule, the field, a value-free message."""

    reason: Reason
    rule: str
    path: str
    message: str

    def summary(self) -> str:
        """One line for dead-letter details and logs."""
        return f"{self.rule} at {self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class Pending:
    """The fact's owner cannot be decided until this claim is known."""

    needs: Key


Verdict = Refused | Pending | None

PARTICIPATION = (
    VolunteerSignedUp,
    VolunteerSignupWithdrawn,
    VolunteerCheckedIn,
    VolunteerCheckedOut,
    VolunteerHoursVerified,
    VolunteerNoShow,
)
PARTICIPATION_UNION = (
    VolunteerSignedUp
    | VolunteerSignupWithdrawn
    | VolunteerCheckedIn
    | VolunteerCheckedOut
    | VolunteerHoursVerified
    | VolunteerNoShow
)
PLATFORM_ONLY = (NotificationSent, NotificationFailed, NotificationSuppressed)
CLAIMING = (CampaignLaunched, OpportunityPublished, VolunteerRegistered, OrganizationSuspended)
"""Payloads whose acceptance records a claim (see `claims_of`)."""


def actor_of(source: str) -> str:
    """The organisation a `partner/X` source speaks for, or PLATFORM for `platform/...`."""
    kind, _, name = source.partition("/")
    return PLATFORM if kind == "platform" else name


def needed_keys(event: Event[Any]) -> list[Key]:
    """Every claim `judge` may read for this event (to load them in one query)."""
    data, actor = event.data, actor_of(event.source)
    keys: list[Key] = [] if actor == PLATFORM else [(Kind.SUSPENSION, actor)]
    if (campaign := getattr(data, "campaign_id", None)) is not None:
        keys.append((Kind.CAMPAIGN, campaign))
    if (opportunity := getattr(data, "opportunity_id", None)) is not None:
        keys.append((Kind.OPPORTUNITY, opportunity))
    if isinstance(data, VolunteerRegistered | VolunteerProfileUpdated | VolunteerConsentChanged):
        keys.append((Kind.VOLUNTEER, data.volunteer_id))
    return keys


def claims_of(event: Event[Any]) -> list[tuple[Key, str]]:
    """The claims an accepted event makes (first claims win; later ones change nothing)."""
    match event.data:
        case CampaignLaunched(campaign_id=campaign, org_id=org):
            return [((Kind.CAMPAIGN, campaign), org)]
        case OpportunityPublished(opportunity_id=opportunity, campaign_id=campaign):
            return [((Kind.OPPORTUNITY, opportunity), campaign)]
        case VolunteerRegistered(volunteer_id=volunteer):
            return [((Kind.VOLUNTEER, volunteer), actor_of(event.source))]
        case OrganizationSuspended(org_id=org):
            return [((Kind.SUSPENSION, org), event.time.astimezone(dt.UTC).isoformat())]
    return []


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


def _not_owner(rule: str, path: str, message: str) -> Refused:
    return Refused(Reason.NOT_OWNER, rule, path, message)


def _campaign_owner(campaign: str, actor: str, claims: Mapping[Key, str]) -> Verdict:
    owner = claims.get((Kind.CAMPAIGN, campaign))
    if owner is None:
        return Pending((Kind.CAMPAIGN, campaign))
    if owner != actor:
        return _not_owner(
            "campaign_owner", "data.campaign_id", "the campaign belongs to another organisation"
        )
    return None


def _opportunity_binding(opportunity: str, campaign: str, claims: Mapping[Key, str]) -> Verdict:
    bound = claims.get((Kind.OPPORTUNITY, opportunity))
    if bound is None:
        return Pending((Kind.OPPORTUNITY, opportunity))
    if bound != campaign:
        return _not_owner(
            "opportunity_campaign",
            "data.opportunity_id",
            "the opportunity was first published under another campaign",
        )
    return None


def _partner_rules(event: Event[Any], actor: str, claims: Mapping[Key, str]) -> Verdict:
    data = event.data
    match data:
        case OrganizationRegistered() | OrganizationSuspended():
            if event.subject != actor:
                message = "organisation events may only be stated by that organisation"
                return _not_owner("organization", "subject", message)
            return None
        case CampaignLaunched(campaign_id=campaign, org_id=org):
            if org != actor:
                message = "a launch must name the launching organisation as data.org_id"
                return _not_owner("organization", "data.org_id", message)
            owner = claims.get((Kind.CAMPAIGN, campaign))
            if owner is not None and owner != actor:
                message = "the campaign was first launched by another organisation"
                return _not_owner("campaign_owner", "data.campaign_id", message)
            return None
        case CampaignUpdated() | CampaignClosed():
            return _campaign_owner(data.campaign_id, actor, claims)
        case OpportunityPublished(opportunity_id=opportunity, campaign_id=campaign):
            if (verdict := _campaign_owner(campaign, actor, claims)) is not None:
                return verdict
            bound = claims.get((Kind.OPPORTUNITY, opportunity))
            if bound is not None and bound != campaign:
                return _opportunity_binding(opportunity, campaign, claims)
            return None
        case _ if isinstance(data, OpportunityCancelled | PARTICIPATION_UNION):
            if (verdict := _campaign_owner(data.campaign_id, actor, claims)) is not None:
                return verdict
            return _opportunity_binding(data.opportunity_id, data.campaign_id, claims)
        case VolunteerRegistered(volunteer_id=volunteer):
            registrar = claims.get((Kind.VOLUNTEER, volunteer))
            if registrar is not None and registrar != actor:
                message = "the volunteer was registered by another organisation"
                return _not_owner("volunteer_registrar", "data.volunteer_id", message)
            return None
        case VolunteerProfileUpdated() | VolunteerConsentChanged():
            registrar = claims.get((Kind.VOLUNTEER, data.volunteer_id))
            if registrar is None:
                return Pending((Kind.VOLUNTEER, data.volunteer_id))
            if registrar != actor:
                message = "only the registering organisation or the platform may change this"
                return _not_owner("volunteer_registrar", "data.volunteer_id", message)
            return None
    return None


def judge(
    event: Event[Any],
    claims: Mapping[Key, str],
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
    if isinstance(event.data, PLATFORM_ONLY) and actor != PLATFORM:
        message = "notification facts are stated by the platform only"
        return Refused(Reason.PLATFORM_ONLY, "platform_only", "source", message)
    if (refused := check_time(event, entered, bounds)) is not None:
        return refused
    if actor == PLATFORM:
        return None
    suspended = claims.get((Kind.SUSPENSION, actor))
    if suspended is not None and _after_suspension(event, entered, suspended, at_entry):
        message = "the organisation is suspended and may not state new facts"
        return Refused(Reason.ORGANIZATION_SUSPENDED, "organization_suspended", "source", message)
    return _partner_rules(event, actor, claims)


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
    known: Mapping[Key, str],
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
    view = _Overlay(known, claims)
    accepted: list[int] = []
    refused: list[tuple[int, Refused]] = []
    todo = list(range(len(events)))
    while True:
        pending: list[tuple[int, Pending]] = []
        progress = False
        for index in todo:
            verdict = judge(events[index], view, entered[index], bounds, at_entry=at_entry)
            if isinstance(verdict, Pending):
                pending.append((index, verdict))
            elif isinstance(verdict, Refused):
                refused.append((index, verdict))
            else:
                accepted.append(index)
                progress = True
                for key, owner in claims_of(events[index]):
                    if view.get(key) is None:
                        claims[key] = owner
        if not pending or not progress:
            return Settled(sorted(accepted), sorted(refused, key=_first), pending, claims)
        todo = [index for index, _ in pending]


def _first(item: tuple[int, Any]) -> int:
    return item[0]


class _Overlay(Mapping[Key, str]):
    """Known claims with the claims made so far in this sequence on top."""

    def __init__(self, known: Mapping[Key, str], new: dict[Key, str]) -> None:
        self._known, self._new = known, new

    def __getitem__(self, key: Key) -> str:
        if key in self._new:
            return self._new[key]
        return self._known[key]

    def __iter__(self) -> Any:
        return iter({**self._known, **self._new})

    def __len__(self) -> int:
        return len({**self._known, **self._new})

    def get(self, key: Key, default: Any = None) -> Any:
        value = self._new.get(key)
        return value if value is not None else self._known.get(key, default)


def keys_for(events: Iterable[Event[Any]]) -> set[Key]:
    """Every claim a sequence of events may read."""
    return {key for event in events for key in needed_keys(event)}


def _types_of(*payloads: type) -> frozenset[str]:
    from schemas.registry import CURRENT

    return frozenset(t for t, spec in CURRENT.items() if spec.model in payloads)


CAMPAIGN_SCOPED_TYPES = _types_of(
    CampaignLaunched, CampaignUpdated, CampaignClosed, OpportunityPublished,
    OpportunityCancelled, *PARTICIPATION,
)  # fmt: skip
"""Types whose owner is decided by campaign and opportunity claims."""
PROFILE_TYPES = _types_of(VolunteerRegistered, VolunteerProfileUpdated, VolunteerConsentChanged)
"""Types whose owner is decided by volunteer claims."""
