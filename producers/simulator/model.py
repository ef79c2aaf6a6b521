"""The simulator's world model: what really happened, from which events and truth derive.

Times are whole seconds since the epoch (UTC). Every entity keeps its own history
(updates, closures, the events of a volunteer on an opportunity) next to its final
state, so the emitted stream and the ground truth both come from one place.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from producers.simulator.calibration import ACTIVE_SHARE, HOURS_PER_ACTIVE_YEAR

DAY = 86_400
HOUR = 3_600


@dataclass(frozen=True, slots=True)
class SimConfig:
    """What to simulate; `orgs` and `campaigns` default to a scale that suits `volunteers`."""

    seed: int = 42
    volunteers: int = 2_000
    days: int = 30
    orgs: int | None = None
    campaigns: int | None = None
    until: dt.date = field(default_factory=lambda: dt.datetime.now(dt.UTC).date())
    duplicates: float = 0.0
    reorder: bool = False
    invalid: float = 0.0
    intensity: float = HOURS_PER_ACTIVE_YEAR  # verified hours per active volunteer per year
    active_share: float = ACTIVE_SHARE  # registered volunteers active in a year

    def __post_init__(self) -> None:
        problems = []
        if not self.intensity > 0:
            problems.append(f"intensity must be positive hours a year, not {self.intensity}")
        if not 0.0 < self.active_share <= 1.0:
            problems.append(f"active_share must be in (0, 1], not {self.active_share}")
        if problems:
            msg = "; ".join(problems)
            raise ValueError(msg)

    @property
    def org_count(self) -> int:
        return self.orgs if self.orgs is not None else max(10, min(400, self.volunteers // 250))

    @property
    def campaign_count(self) -> int:
        if self.campaigns is not None:
            return self.campaigns
        return max(16, min(800, self.volunteers // 200))

    @property
    def as_of(self) -> int:
        """The last second of the `until` day: the instant the truth is stated at."""
        return epoch(self.until) + DAY - 1

    @property
    def window_start(self) -> int:
        """Midnight starting the first of the `days` days of activity."""
        return epoch(self.until) - (self.days - 1) * DAY


@dataclass(slots=True)
class Org:
    """A partner organisation."""

    org_id: str
    name_ar: str
    name_en: str
    sector: str
    registered_at: int
    suspended: tuple[int, str] | None = None  # (time, reason)

    @property
    def status(self) -> str:
        return "suspended" if self.suspended else "active"


@dataclass(slots=True)
class Campaign:
    """A campaign as launched, its later updates and how it ended."""

    campaign_id: str
    org_id: str
    title_ar: str
    title_en: str
    kind: str
    municipality: str
    starts_on: dt.date
    ends_on: dt.date
    target_volunteers: int
    target_hours: int
    launched_at: int
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    closed: tuple[int, str] | None = None  # (time, "completed" | "cancelled")

    @property
    def status(self) -> str:
        if self.closed is None:
            return "active"
        return "cancelled" if self.closed[1] == "cancelled" else "closed"


@dataclass(slots=True)
class Opportunity:
    """A dated shift inside a campaign."""

    opportunity_id: str
    campaign_id: str
    title_ar: str
    title_en: str
    starts_at: int
    ends_at: int
    capacity: int
    municipality: str
    min_age: int
    published_at: int
    cancelled: tuple[int, str] | None = None  # (time, reason)

    @property
    def status(self) -> str:
        return "cancelled" if self.cancelled else "active"


@dataclass(slots=True)
class Volunteer:
    """A registered volunteer; `updates` are (time, changed fields) in time order."""

    volunteer_id: str
    given_name: str
    family_name: str | None
    phone: str
    email: str
    language: str
    birth_year: int
    gender: str
    nationality_group: str
    municipality: str
    consent: dict[str, bool]
    registered_at: int
    updates: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    consent_changes: list[tuple[int, dict[str, bool]]] = field(default_factory=list)

    @property
    def current_municipality(self) -> str:
        """Where the volunteer lives now: the latest update naming a municipality wins."""
        current = self.municipality
        for _time, changes in sorted(self.updates, key=lambda u: u[0]):
            current = changes.get("municipality", current)
        return current


@dataclass(slots=True)
class Pair:
    """One volunteer on one opportunity: its final state and the events that led to it."""

    volunteer_id: str
    opportunity_id: str
    campaign_id: str
    signup_status: str | None = None  # "signed_up" | "withdrawn" | None (walk-in)
    checked_in_at: int | None = None  # the earliest check-in
    checked_out_at: int | None = None  # the latest check-out
    hours: float | None = None  # the latest verification
    first_verified_at: int | None = None
    no_show: bool = False
    events: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)

    @property
    def attended(self) -> bool:
        return self.checked_in_at is not None or self.hours is not None

    @property
    def activity_time(self) -> int | None:
        if self.checked_in_at is not None:
            return self.checked_in_at
        return self.first_verified_at

    @property
    def counts_no_show(self) -> bool:
        return self.no_show and self.checked_in_at is None


@dataclass(slots=True, repr=False)
class World:
    """Everything the simulation decided, in generation order."""

    config: SimConfig
    orgs: list[Org] = field(default_factory=list)
    campaigns: list[Campaign] = field(default_factory=list)
    opportunities: list[Opportunity] = field(default_factory=list)
    volunteers: list[Volunteer] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"World(seed={self.config.seed}, volunteers={len(self.volunteers)})"


def epoch(day: dt.date) -> int:
    """Seconds since the epoch at midnight UTC starting `day`."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())


_DAY_PREFIX: dict[int, str] = {}
_CLOCK = [f"{h:02d}:{m:02d}:{s:02d}Z" for h in range(24) for m in range(60) for s in range(60)]


def rfc3339(seconds: int) -> str:
    """An epoch second as RFC 3339 UTC (`2025-03-21T08:02:11Z`).

    Tens of millions of calls in a national run: the date part is cached per day and the
    clock part is a table of the day's 86,400 seconds.
    """
    day, rest = divmod(seconds, DAY)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        if len(_DAY_PREFIX) > 20_000:
            _DAY_PREFIX.clear()
        prefix = _DAY_PREFIX[day] = time.strftime("%Y-%m-%dT", time.gmtime(day * DAY))
    return prefix + _CLOCK[rest]


def day_of(seconds: int) -> dt.date:
    """The UTC calendar day an epoch second falls on."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date()
