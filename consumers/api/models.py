"""The read API's response documents (they also make the OpenAPI page at /docs)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, Field


class Cell(BaseModel):
    """Active volunteers in one cell of a breakdown; withheld when too few (see suppression)."""

    active: int | None
    population: int
    rate: float | None
    suppressed: bool


class Month(BaseModel):
    """Active volunteers in the 12 months ending with this month (or at as_of)."""

    month: str
    active: int | None
    rate: float | None
    suppressed: bool


class PathPoint(BaseModel):
    """The rate the trajectory needs at the end of a year to reach the target."""

    month: str
    rate: float


class Trajectory(BaseModel):
    """The current rate against the 10%-by-2030 target."""

    rate: float | None
    target_rate: float
    target_date: str
    months_left: int
    monthly_growth_needed: float | None
    on_track: bool | None
    path: list[PathPoint]


class Hours(BaseModel):
    """Verified hours and their economic value (hours x hourly rate, QAR)."""

    verified_total: float | None
    verified_trailing_12m: float | None
    hourly_rate: float
    economic_value: float | None
    suppressed: bool = Field(default=False, description="withheld with a withheld total")


class Kpi(BaseModel):
    """The national participation KPI (aggregates only)."""

    as_of: str = Field(description="the calendar day asked for (Asia/Qatar)")
    data_through: str = Field(description="the last complete day counted (yesterday for today)")
    municipality: str | None
    min_cell: int = Field(description="k: counts of 1..k-1 volunteers are withheld")
    national: Cell
    breakdowns: dict[str, dict[str, Cell]]
    monthly: list[Month]
    hours: Hours
    trajectory: Trajectory


class CampaignSummary(BaseModel):
    """A campaign with its live statistics."""

    campaign_id: str
    org_id: str | None
    title_ar: str | None
    title_en: str | None
    kind: str | None
    municipality: str | None
    starts_on: dt.date | None
    ends_on: dt.date | None
    status: str
    target_volunteers: int | None
    target_hours: int | None
    opportunity_count: int
    capacity: int = Field(description="seats of its opportunities that are not cancelled")
    signups: int
    withdrawals: int
    check_ins: int
    no_shows: int
    verified_hours: float
    volunteers_attended: int
    fill_rate: float | None = Field(description="filled seats / capacity (None: no capacity)")
    volunteer_progress: float | None
    hours_progress: float | None


class Opportunity(BaseModel):
    """An opportunity of a campaign with its statistics."""

    opportunity_id: str
    title_ar: str | None
    title_en: str | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    capacity: int | None
    municipality: str | None
    min_age: int | None
    status: str
    signups: int
    withdrawals: int
    waitlisted: int
    check_ins: int
    no_shows: int
    verified_hours: float
    unverified_hours: float
    fill_rate: float | None


class CampaignDetail(CampaignSummary):
    """A campaign, its statistics and its opportunities."""

    opportunities: list[Opportunity]


class CampaignPage(BaseModel):
    """One page of campaigns; pass `next_cursor` as `cursor` for the next."""

    items: list[CampaignSummary]
    next_cursor: str | None
    limit: int
    sort: str


class OrganizationSummary(BaseModel):
    """A partner organisation and what it achieved."""

    org_id: str
    name_ar: str | None
    name_en: str | None
    sector: str | None
    status: str
    registered_at: dt.datetime | None
    campaigns: int
    volunteers_engaged: int
    verified_hours: float


class OrganizationCampaign(BaseModel):
    """A campaign of an organisation (details at /v1/campaigns/{id})."""

    campaign_id: str
    title_ar: str | None
    title_en: str | None
    municipality: str | None
    status: str | None
    starts_on: dt.date | None


class OrganizationDetail(OrganizationSummary):
    """An organisation with its campaigns."""

    campaign_list: list[OrganizationCampaign]


class OrganizationPage(BaseModel):
    """One page of organisations."""

    items: list[OrganizationSummary]
    next_cursor: str | None
    limit: int


class Sector(BaseModel):
    """A sector's organisations, campaigns, engaged volunteers and hours."""

    sector: str
    organizations: int
    campaigns: int
    volunteers_engaged: int
    verified_hours: float


class Volunteer(BaseModel):
    """A volunteer's profile and totals: personal data, the admin role only."""

    volunteer_id: str
    given_name: str | None
    family_name: str | None
    phone: str | None
    email: str | None
    language: str | None
    birth_year: int | None
    gender: str | None
    nationality_group: str | None
    municipality: str | None
    consent: dict[str, Any] | None
    registered_at: dt.datetime | None
    status: str
    signups: int
    attended: int
    verified_hours: float
    no_shows: int
    first_activity: dt.datetime | None
    last_activity: dt.datetime | None


class OrganisationVolunteer(BaseModel):
    """What an organisation sees of one of its own volunteers: enough to greet them."""

    volunteer_id: str
    given_name: str | None
    language: str | None
    status: str


class ProjectionFreshness(BaseModel):
    """How far behind the log one read model is."""

    name: str
    schema_name: str = Field(alias="schema")
    status: str = Field(description="ok, or missing when the schema does not exist yet")
    events_applied: int | None
    duplicates: int | None
    dead_lettered: int | None
    last_event_time: dt.datetime | None
    last_applied_at: dt.datetime | None
    seconds_since_applied: float | None
    lag: int | None = Field(description="records not yet applied (None: Kafka unreachable)")


class Projections(BaseModel):
    """Freshness of every read model the API serves."""

    checked_at: dt.datetime
    projections: list[ProjectionFreshness]


class Bucket(BaseModel):
    """Check-ins (a volunteer's first on an opportunity) in the complete hour from `start`."""

    start: dt.datetime
    check_ins: int | None
    suppressed: bool = False


class RecentActivity(BaseModel):
    """Check-ins per complete hour over one day (aggregates only, small counts withheld)."""

    as_of: str
    bucket_minutes: int
    buckets: list[Bucket]
    check_ins: int | None = Field(description="the buckets' sum; null when one is withheld")
    suppressed: bool = False


class Sectors(BaseModel):
    """Every sector's totals."""

    items: list[Sector]
