"""One realistic, valid example of every event type, as the JSON a partner would send.

Used by the docs, tests, the benchmark and anyone writing a producer: copy, change ids.
Personal data here is invented.
"""

from __future__ import annotations

import copy
from typing import Any

from schemas import registry

_ENVELOPE = {"specversion": "1.0", "time": "2025-03-14T09:30:00Z"}
_ORG, _CAMPAIGN, _OPPORTUNITY, _VOLUNTEER = "org-qrcs", "cmp-2025-beach", "opp-0042", "vol-10077"
_ATTENDANCE = {"volunteer_id": _VOLUNTEER, "opportunity_id": _OPPORTUNITY, "campaign_id": _CAMPAIGN}
_NOTIFICATION = {
    "notification_id": "ntf-5501",
    "volunteer_id": _VOLUNTEER,
    "template": "signup_confirmation",
    "channel": "sms",
    "cause_event_id": "evt-signup-0001",
}
_PROFILE = {
    "phone": "+97455501234",
    "email": "fatima.alkuwari@example.qa",
    "language": "ar",
    "birth_year": 1998,
    "gender": "female",
    "nationality_group": "qatari",
    "municipality": "al_rayyan",
    "consent": {"sms": True, "email": False},
}

# type -> (subject, data) of the current version
_PAYLOADS: dict[str, tuple[str, dict[str, Any]]] = {
    "organization.registered": (
        _ORG,
        {
            "org_id": _ORG,
            "name_ar": "الهلال الأحمر القطري",
            "name_en": "Qatar Red Crescent",
            "sector": "nonprofit",
        },
    ),
    "organization.suspended": (_ORG, {"org_id": _ORG, "reason": "Partner agreement expired"}),
    "campaign.launched": (
        _CAMPAIGN,
        {
            "campaign_id": _CAMPAIGN,
            "org_id": _ORG,
            "title_ar": "تنظيف الشواطئ",
            "title_en": "Beach clean-up",
            "kind": "volunteer_drive",
            "municipality": "al_wakrah",
            "starts_on": "2025-03-01",
            "ends_on": "2025-04-30",
            "target_volunteers": 500,
            "target_hours": 2000,
        },
    ),
    "campaign.updated": (
        _CAMPAIGN,
        {
            "campaign_id": _CAMPAIGN,
            "ends_on": "2025-05-15",
            "target_volunteers": 650,
        },
    ),
    "campaign.closed": (_CAMPAIGN, {"campaign_id": _CAMPAIGN, "reason": "completed"}),
    "opportunity.published": (
        _CAMPAIGN,
        {
            "opportunity_id": _OPPORTUNITY,
            "campaign_id": _CAMPAIGN,
            "title_ar": "شاطئ الوكرة",
            "title_en": "Al Wakrah beach, morning shift",
            "starts_at": "2025-03-21T05:00:00Z",
            "ends_at": "2025-03-21T09:00:00Z",
            "capacity": 40,
            "municipality": "al_wakrah",
            "min_age": 14,
        },
    ),
    "opportunity.updated": (
        _CAMPAIGN,
        {
            "opportunity_id": _OPPORTUNITY,
            "campaign_id": _CAMPAIGN,
            "starts_at": "2025-03-21T06:00:00Z",
            "ends_at": "2025-03-21T10:00:00Z",
            "capacity": 60,
        },
    ),
    "opportunity.cancelled": (
        _CAMPAIGN,
        {
            "opportunity_id": _OPPORTUNITY,
            "campaign_id": _CAMPAIGN,
            "reason": "Weather warning",
        },
    ),
    "volunteer.registered": (
        _VOLUNTEER,
        {
            "volunteer_id": _VOLUNTEER,
            "given_name": "Fatima",
            "family_name": "Al-Kuwari",
            **_PROFILE,
        },
    ),
    "volunteer.profile_updated": (
        _VOLUNTEER,
        {
            "volunteer_id": _VOLUNTEER,
            "municipality": "doha",
            "language": "en",
        },
    ),
    "volunteer.consent_changed": (
        _VOLUNTEER,
        {
            "volunteer_id": _VOLUNTEER,
            "consent": {"sms": True, "email": True, "alerts": True},
        },
    ),
    "volunteer.erased": (_VOLUNTEER, {"volunteer_id": _VOLUNTEER}),
    "volunteer.signed_up": (_VOLUNTEER, dict(_ATTENDANCE)),
    "volunteer.signup_withdrawn": (_VOLUNTEER, dict(_ATTENDANCE)),
    "volunteer.checked_in": (
        _VOLUNTEER,
        {
            **_ATTENDANCE,
            "at": "2025-03-21T08:02:11+03:00",
            "method": "qr",
        },
    ),
    "volunteer.checked_out": (_VOLUNTEER, {**_ATTENDANCE, "at": "2025-03-21T12:01:40+03:00"}),
    "volunteer.hours_verified": (
        _VOLUNTEER,
        {
            **_ATTENDANCE,
            "hours": 3.75,
            "verified_by": "staff-qrcs-17",
        },
    ),
    "volunteer.no_show": (_VOLUNTEER, dict(_ATTENDANCE)),
    "notification.sent": (_VOLUNTEER, dict(_NOTIFICATION)),
    "notification.failed": (
        _VOLUNTEER,
        {
            **_NOTIFICATION,
            "error": "provider answered 503",
            "attempts": 5,
        },
    ),
    "notification.suppressed": (
        _VOLUNTEER,
        {
            **_NOTIFICATION,
            "channel": "email",
            "reason": "no_consent",
        },
    ),
    "notification.delivered": (_VOLUNTEER, dict(_NOTIFICATION)),
    "notification.bounced": (
        _VOLUNTEER,
        {
            **_NOTIFICATION,
            "channel": "email",
            "permanent": True,
            "reason": "550 5.1.1 mailbox unavailable",
        },
    ),
}


_V1: dict[str, dict[str, Any]] = {
    "volunteer.registered": {
        "volunteer_id": _VOLUNTEER,
        "full_name": "Fatima Al-Kuwari",
        **_PROFILE,
    },
    "volunteer.profile_updated": {"volunteer_id": _VOLUNTEER, "full_name": "Fatima Ali Al-Kuwari"},
}


def example(event_type: str, version: int | None = None) -> dict[str, Any]:
    """A fresh, valid JSON document of `event_type` at `version` (default: current)."""
    spec = registry.spec_for(event_type, version)
    subject, data = _PAYLOADS[event_type]
    if spec is not registry.CURRENT[event_type]:
        data = _V1[event_type]
    platform = event_type.startswith("notification.") or event_type == "volunteer.erased"
    return {
        **_ENVELOPE,
        "id": f"evt-{event_type.replace('.', '-')}-0001",
        "source": f"platform/{event_type.split('.')[0]}s" if platform else f"partner/{_ORG}",
        "type": event_type,
        "subject": subject,
        "dataschema": spec.dataschema,
        "data": copy.deepcopy(data),
    }
