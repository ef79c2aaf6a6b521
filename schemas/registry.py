"""The event registry: (type, version) -> payload model, envelope class, topic and key.

Producers and consumers both use it, so the topic an event is published to and the key it
is published under are decided in exactly one place.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from schemas import attendance as att
from schemas import campaigns as camp
from schemas import notifications as notif
from schemas import organizations as org
from schemas import signups as sig
from schemas import volunteers as vol
from schemas.envelope import SPECVERSION, Event, dataschema_for, make_envelope
from schemas.topics import (
    ATTENDANCE,
    CAMPAIGNS,
    NOTIFICATIONS,
    ORGANIZATIONS,
    SIGNUPS,
    VOLUNTEERS,
    TopicSpec,
)


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Everything the platform knows about one version of one event type."""

    type: str
    version: int
    model: type[BaseModel]
    topic: TopicSpec
    envelope: type[Event[Any]]

    @property
    def key_field(self) -> str:
        """The payload field that is the Kafka key and the envelope `subject`."""
        return self.topic.key

    @property
    def dataschema(self) -> str:
        """The `dataschema` URN of this version."""
        return dataschema_for(self.type, self.version)


class UnknownEventType(LookupError):
    """The event type is not in the registry."""


class UnsupportedVersion(LookupError):
    """The event type is known but not at that version."""


# (type, version, payload model, topic). Bump a version by adding a row, keeping the old
# one, and registering an upcaster in `schemas.upcasters`.
_TABLE: tuple[tuple[str, int, type[BaseModel], TopicSpec], ...] = (
    ("organization.registered", 1, org.OrganizationRegistered, ORGANIZATIONS),
    ("organization.suspended", 1, org.OrganizationSuspended, ORGANIZATIONS),
    ("campaign.launched", 1, camp.CampaignLaunched, CAMPAIGNS),
    ("campaign.updated", 1, camp.CampaignUpdated, CAMPAIGNS),
    ("campaign.closed", 1, camp.CampaignClosed, CAMPAIGNS),
    ("opportunity.published", 1, camp.OpportunityPublished, CAMPAIGNS),
    ("opportunity.cancelled", 1, camp.OpportunityCancelled, CAMPAIGNS),
    ("opportunity.updated", 1, camp.OpportunityUpdated, CAMPAIGNS),
    ("volunteer.registered", 1, vol.VolunteerRegisteredV1, VOLUNTEERS),
    ("volunteer.registered", 2, vol.VolunteerRegistered, VOLUNTEERS),
    ("volunteer.profile_updated", 1, vol.VolunteerProfileUpdatedV1, VOLUNTEERS),
    ("volunteer.profile_updated", 2, vol.VolunteerProfileUpdated, VOLUNTEERS),
    ("volunteer.consent_changed", 1, vol.VolunteerConsentChanged, VOLUNTEERS),
    ("volunteer.erased", 1, vol.VolunteerErased, VOLUNTEERS),
    ("volunteer.signed_up", 1, sig.VolunteerSignedUp, SIGNUPS),
    ("volunteer.signup_withdrawn", 1, sig.VolunteerSignupWithdrawn, SIGNUPS),
    ("volunteer.checked_in", 1, att.VolunteerCheckedIn, ATTENDANCE),
    ("volunteer.checked_out", 1, att.VolunteerCheckedOut, ATTENDANCE),
    ("volunteer.hours_verified", 1, att.VolunteerHoursVerified, ATTENDANCE),
    ("volunteer.no_show", 1, att.VolunteerNoShow, ATTENDANCE),
    ("notification.sent", 1, notif.NotificationSent, NOTIFICATIONS),
    ("notification.failed", 1, notif.NotificationFailed, NOTIFICATIONS),
    ("notification.suppressed", 1, notif.NotificationSuppressed, NOTIFICATIONS),
    ("notification.delivered", 1, notif.NotificationDelivered, NOTIFICATIONS),
    ("notification.bounced", 1, notif.NotificationBounced, NOTIFICATIONS),
)

SPECS: dict[tuple[str, int], EventSpec] = {
    (type_, version): EventSpec(
        type_, version, model, topic, make_envelope(type_, version, model, topic.key)
    )
    for type_, version, model, topic in _TABLE
}
"""Every known (type, version)."""

CURRENT: dict[str, EventSpec] = {
    spec.type: spec for spec in sorted(SPECS.values(), key=lambda spec: spec.version)
}
"""Each event type's current (highest) version: what producers emit and consumers see."""

EVENT_TYPES: tuple[str, ...] = tuple(sorted(CURRENT))
"""Every event type, in alphabetical order."""

_BY_MODEL: dict[type[BaseModel], EventSpec] = {spec.model: spec for spec in SPECS.values()}


def spec_for(event_type: str, version: int | None = None) -> EventSpec:
    """The spec of `event_type` at `version` (default: current)."""
    current = CURRENT.get(event_type)
    if current is None:
        msg = f"unknown event type {event_type!r}"
        raise UnknownEventType(msg)
    if version is None:
        return current
    spec = SPECS.get((event_type, version))
    if spec is None:
        msg = f"{event_type} has no version {version} (current: {current.version})"
        raise UnsupportedVersion(msg)
    return spec


def type_of(model: type[BaseModel]) -> str:
    """The event type whose payload (at any version) is `model`: name types by class."""
    spec = _BY_MODEL.get(model)
    if spec is None:
        msg = f"{model.__name__} is not an event payload"
        raise UnknownEventType(msg)
    return spec.type


def types_of(*models: type[BaseModel]) -> frozenset[str]:
    """The event types of these payload classes (see `type_of`)."""
    return frozenset(map(type_of, models))


def known_versions(event_type: str) -> list[int]:
    """The versions of `event_type` the decoder accepts, oldest first."""
    return sorted(version for type_, version in SPECS if type_ == event_type)


def spec_of(event: Event[Any]) -> EventSpec:
    """The spec of a decoded or constructed event."""
    return spec_for(event.type, event.version)


def topic_for(event: Event[Any]) -> TopicSpec:
    """The topic the event is published to."""
    return spec_of(event).topic


def key_for(event: Event[Any]) -> str:
    """The Kafka key of the event: its aggregate id (`subject`)."""
    return event.subject


def new_event(
    data: BaseModel,
    *,
    source: str,
    event_id: str | None = None,
    time: dt.datetime | None = None,
    correlationid: str | None = None,
) -> Event[Any]:
    """Wrap a current-version payload in its envelope, with subject taken from its key field.

    `event_id` defaults to a random UUID and `time` to now; emitters that retry must pass
    the same `event_id` again, since consumers deduplicate on it.
    """
    spec = _BY_MODEL.get(type(data))
    if spec is None or CURRENT[spec.type] is not spec:
        msg = f"{type(data).__name__} is not a current event payload"
        raise UnknownEventType(msg)
    return spec.envelope(
        specversion=SPECVERSION,
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=spec.type,
        subject=getattr(data, spec.key_field),
        time=time or dt.datetime.now(dt.UTC),
        correlationid=correlationid,
        data=data,
    )
