"""Events on `tatawwu.attendance`, keyed by `volunteer_id`.

Cross-topic order is not guaranteed (a walk-in checks in before any sign-up arrives, a
check-out may overtake its check-in), so nothing here refers to an earlier event: each
payload names the volunteer, the opportunity and its campaign in full.
"""

from __future__ import annotations

from schemas.common import CheckInMethod, Hours, Id, Instant, Payload


class VolunteerCheckedIn(Payload):
    """A volunteer arrived at an opportunity."""

    volunteer_id: Id
    opportunity_id: Id
    campaign_id: Id
    at: Instant
    method: CheckInMethod


class VolunteerCheckedOut(Payload):
    """A volunteer left an opportunity."""

    volunteer_id: Id
    opportunity_id: Id
    campaign_id: Id
    at: Instant


class VolunteerHoursVerified(Payload):
    """The organiser confirmed the hours a volunteer served on one opportunity (0 < h <= 24)."""

    volunteer_id: Id
    opportunity_id: Id
    campaign_id: Id
    hours: Hours
    verified_by: Id


class VolunteerNoShow(Payload):
    """A signed-up volunteer did not attend."""

    volunteer_id: Id
    opportunity_id: Id
    campaign_id: Id
