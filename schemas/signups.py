"""Events on `tatawwu.signups`, keyed by `volunteer_id`."""

from __future__ import annotations

from schemas.common import Id, Payload


class VolunteerSignedUp(Payload):
    """A volunteer took a place on an opportunity."""

    volunteer_id: Id
    opportunity_id: Id
    campaign_id: Id


class VolunteerSignupWithdrawn(Payload):
    """A volunteer gave their place back."""

    volunteer_id: Id
    opportunity_id: Id
    campaign_id: Id
