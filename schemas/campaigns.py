"""Events on `tatawwu.campaigns`, keyed by `campaign_id`.

Opportunities (a dated shift inside a campaign) live on this topic too, so that one
partition sees a campaign and its opportunities in order; their Kafka key and envelope
`subject` are therefore the `campaign_id`, not the `opportunity_id`.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Self

from pydantic import Field, model_validator

from schemas.common import (
    CampaignKind,
    Capacity,
    Count,
    FreeText,
    Id,
    Instant,
    MinAge,
    Municipality,
    NotClearable,
    Payload,
    Title,
    cross_field_error,
)


class CloseReason(StrEnum):
    """Why a campaign stopped: it ran its course, or it was called off."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"


def _check_dates(starts_on: dt.date | None, ends_on: dt.date | None) -> None:
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        raise cross_field_error("ends_on", "ends_on must be on or after starts_on")


class CampaignLaunched(Payload):
    """An organisation launched a campaign; `ends_on` is inclusive, on or after `starts_on`."""

    campaign_id: Id
    org_id: Id
    title_ar: Title
    title_en: Title
    kind: CampaignKind
    municipality: Municipality
    starts_on: dt.date
    ends_on: dt.date
    target_volunteers: Count
    target_hours: Count

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        _check_dates(self.starts_on, self.ends_on)
        return self


class CampaignUpdated(Payload):
    """Some campaign details changed; absent fields are unchanged.

    No field can be cleared (each is required at launch): null is refused, rule
    `not_clearable`. When both dates are present, `ends_on` must be on or after `starts_on`.
    """

    campaign_id: Id
    title_ar: NotClearable[Title] = None
    title_en: NotClearable[Title] = None
    municipality: NotClearable[Municipality] = None
    starts_on: NotClearable[dt.date] = None
    ends_on: NotClearable[dt.date] = None
    target_volunteers: NotClearable[Count] = None
    target_hours: NotClearable[Count] = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        # Only checkable when both dates change together; the projection checks the rest.
        _check_dates(self.starts_on, self.ends_on)
        return self


class CampaignClosed(Payload):
    """A campaign ended; no new opportunities or sign-ups are expected."""

    campaign_id: Id
    reason: CloseReason


class OpportunityPublished(Payload):
    """A dated volunteering slot opened for sign-ups; `ends_at` must be after `starts_at`."""

    opportunity_id: Id
    campaign_id: Id
    title_ar: Title
    title_en: Title
    starts_at: Instant
    ends_at: Instant
    capacity: Capacity
    municipality: Municipality
    min_age: MinAge
    auto_release: bool = Field(
        default=False,
        description="Release a place whose volunteer did not answer the attendance "
        "confirmation request by the release time (see the notifier); default false: "
        "silence changes nothing.",
    )

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        if self.ends_at <= self.starts_at:
            raise cross_field_error("ends_at", "ends_at must be after starts_at")
        return self


class OpportunityUpdated(Payload):
    """Some details of a published opportunity changed (time, place, capacity); absent
    fields are unchanged.

    Owned like the opportunity's other events: only the organisation owning the campaign
    it was first published under may update it. No field can be cleared (null is refused,
    rule `not_clearable`). When both times are present, `ends_at` must be after
    `starts_at`; the projections check the rest. Volunteers signed up are told once what
    changed, and their pending reminders are rescheduled.
    """

    opportunity_id: Id
    campaign_id: Id
    starts_at: NotClearable[Instant] = None
    ends_at: NotClearable[Instant] = None
    capacity: NotClearable[Capacity] = None
    municipality: NotClearable[Municipality] = None
    auto_release: NotClearable[bool] = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> Self:
        starts, ends = self.starts_at, self.ends_at
        if starts is not None and ends is not None and ends <= starts:
            raise cross_field_error("ends_at", "ends_at must be after starts_at")
        return self


class OpportunityCancelled(Payload):
    """An opportunity was called off; its sign-ups are void."""

    opportunity_id: Id
    campaign_id: Id
    reason: FreeText
