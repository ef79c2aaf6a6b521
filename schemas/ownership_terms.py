"""The vocabulary of the ownership rules: claims, verdicts, actors (pure; no I/O).

`schemas.ownership` decides facts with these terms; this module says what a claim is
(`Kind`, `Key`), what a verdict can be (`Refused`, `Pending`), who speaks for a source
(`actor_of`), which claims an event reads (`needed_keys`) and which it makes
(`claims_of`). Split from the rules so each module reads in one sitting; every name is
re-exported by `schemas.ownership`, the import path callers use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
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
    OpportunityUpdated,
)
from schemas.envelope import Event
from schemas.notifications import (
    NotificationBounced,
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
)
from schemas.organizations import OrganizationSuspended
from schemas.signups import VolunteerSignedUp, VolunteerSignupWithdrawn
from schemas.volunteers import (
    VolunteerConsentChanged,
    VolunteerErased,
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
PLATFORM_ONLY = (
    NotificationSent,
    NotificationFailed,
    NotificationSuppressed,
    NotificationDelivered,
    NotificationBounced,
    VolunteerErased,
)
CLAIMING = (CampaignLaunched, OpportunityPublished, VolunteerRegistered, OrganizationSuspended)
"""Payloads whose acceptance records a claim (see `claims_of`)."""

Claims = Mapping[Key, str]

SCOPED = frozenset({OpportunityCancelled, OpportunityUpdated, *PARTICIPATION})
"""Payloads owned through their campaign and bound opportunity."""
CAMPAIGN_EVENTS = frozenset({CampaignLaunched, CampaignUpdated, CampaignClosed})
VOLUNTEER_EVENTS = frozenset(
    {VolunteerRegistered, VolunteerProfileUpdated, VolunteerConsentChanged}
)
CLAIMING_SET = frozenset(CLAIMING)
ATTENDANCE_TIMES = frozenset({VolunteerCheckedIn, VolunteerCheckedOut})
PLATFORM_ONLY_SET = frozenset(PLATFORM_ONLY)

_CAMPAIGN, _OPPORTUNITY, _VOLUNTEER, _SUSPENSION = (
    Kind.CAMPAIGN, Kind.OPPORTUNITY, Kind.VOLUNTEER, Kind.SUSPENSION,
)  # fmt: skip
_ACTORS: dict[str, str] = {}  # source -> actor; sources are few (one per partner)


def actor_of(source: str) -> str:
    """The organisation a `partner/X` source speaks for, or PLATFORM for `platform/...`."""
    actor = _ACTORS.get(source)
    if actor is None:
        kind, _, name = source.partition("/")
        actor = PLATFORM if kind == "platform" else name
        if len(_ACTORS) < 100_000:
            _ACTORS[source] = actor
    return actor


def needed_keys(event: Event[Any]) -> list[Key]:
    """Every claim `judge` may read for this event (to load them in one query)."""
    data, actor = event.data, actor_of(event.source)
    keys: list[Key] = [] if actor == PLATFORM else [(_SUSPENSION, actor)]
    cls = type(data)
    if cls in SCOPED or cls is OpportunityPublished:
        keys.append((_CAMPAIGN, data.campaign_id))
        keys.append((_OPPORTUNITY, data.opportunity_id))
    elif cls in CAMPAIGN_EVENTS:
        keys.append((_CAMPAIGN, data.campaign_id))
    elif cls in VOLUNTEER_EVENTS:
        keys.append((_VOLUNTEER, data.volunteer_id))
    return keys


def claims_of(event: Event[Any]) -> list[tuple[Key, str]]:
    """The claims an accepted event makes (first claims win; later ones change nothing)."""
    data = event.data
    cls = type(data)
    if cls not in CLAIMING_SET:
        return []
    if cls is CampaignLaunched:
        return [((_CAMPAIGN, data.campaign_id), data.org_id)]
    if cls is OpportunityPublished:
        return [((_OPPORTUNITY, data.opportunity_id), data.campaign_id)]
    if cls is VolunteerRegistered:
        return [((_VOLUNTEER, data.volunteer_id), actor_of(event.source))]
    return [((_SUSPENSION, data.org_id), event.time.astimezone(dt.UTC).isoformat())]


def keys_for(events: Iterable[Event[Any]]) -> set[Key]:
    """Every claim a sequence of events may read."""
    return {key for event in events for key in needed_keys(event)}


def _types_of(*payloads: type) -> frozenset[str]:
    from schemas.registry import CURRENT

    return frozenset(t for t, spec in CURRENT.items() if spec.model in payloads)


CAMPAIGN_SCOPED_TYPES = _types_of(
    CampaignLaunched, CampaignUpdated, CampaignClosed, OpportunityPublished,
    OpportunityCancelled, OpportunityUpdated, *PARTICIPATION,
)  # fmt: skip
"""Types whose owner is decided by campaign and opportunity claims."""
PROFILE_TYPES = _types_of(VolunteerRegistered, VolunteerProfileUpdated, VolunteerConsentChanged)
"""Types whose owner is decided by volunteer claims."""
