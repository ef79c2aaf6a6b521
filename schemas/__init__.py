"""The event contract: envelope, event catalog, topics, versioning. No I/O.

Producers and consumers need only what is re-exported here::

    from schemas import decode_event, encode_event, DecodeError, topic_for, key_for

    result = decode_event(record.value)
    if isinstance(result, DecodeError):
        ...  # dead-letter it: result.reason, result.summary(), result.event_id
    else:
        match result.data:
            case VolunteerCheckedIn(): ...
"""

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
    CloseReason,
    OpportunityCancelled,
    OpportunityPublished,
    OpportunityUpdated,
)
from schemas.common import (
    CampaignKind,
    Channel,
    CheckInMethod,
    Consent,
    Gender,
    Language,
    Municipality,
    NationalityGroup,
    Payload,
    Sector,
)
from schemas.decode import MAX_EVENT_BYTES, decode_event, encode_event
from schemas.envelope import Event, dataschema_for, parse_dataschema
from schemas.errors import DecodeError, FieldError, Reason
from schemas.notifications import (
    NotificationBounced,
    NotificationDelivered,
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
    SuppressionReason,
)
from schemas.organizations import OrganizationRegistered, OrganizationSuspended
from schemas.registry import (
    CURRENT,
    EVENT_TYPES,
    SPECS,
    EventSpec,
    UnknownEventType,
    UnsupportedVersion,
    key_for,
    known_versions,
    new_event,
    spec_for,
    spec_of,
    topic_for,
)
from schemas.signups import VolunteerSignedUp, VolunteerSignupWithdrawn
from schemas.volunteers import (
    VolunteerConsentChanged,
    VolunteerProfileUpdated,
    VolunteerRegistered,
)

__all__ = [
    "CURRENT",
    "EVENT_TYPES",
    "MAX_EVENT_BYTES",
    "SPECS",
    "CampaignClosed",
    "CampaignKind",
    "CampaignLaunched",
    "CampaignUpdated",
    "Channel",
    "CheckInMethod",
    "CloseReason",
    "Consent",
    "DecodeError",
    "Event",
    "EventSpec",
    "FieldError",
    "Gender",
    "Language",
    "Municipality",
    "NationalityGroup",
    "NotificationBounced",
    "NotificationDelivered",
    "NotificationFailed",
    "NotificationSent",
    "NotificationSuppressed",
    "OpportunityCancelled",
    "OpportunityPublished",
    "OpportunityUpdated",
    "OrganizationRegistered",
    "OrganizationSuspended",
    "Payload",
    "Reason",
    "Sector",
    "SuppressionReason",
    "UnknownEventType",
    "UnsupportedVersion",
    "VolunteerCheckedIn",
    "VolunteerCheckedOut",
    "VolunteerConsentChanged",
    "VolunteerHoursVerified",
    "VolunteerNoShow",
    "VolunteerProfileUpdated",
    "VolunteerRegistered",
    "VolunteerSignedUp",
    "VolunteerSignupWithdrawn",
    "dataschema_for",
    "decode_event",
    "encode_event",
    "key_for",
    "known_versions",
    "new_event",
    "parse_dataschema",
    "spec_for",
    "spec_of",
    "topic_for",
]
