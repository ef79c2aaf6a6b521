"""Events on `tatawwu.notifications`, keyed by `volunteer_id`, emitted by the platform.

The notifier emits one of these per (cause event, template, channel) it handled, with
`source` `platform/notifications`; later, what the provider reported about a message it
took (`notification.delivered`, `notification.bounced`, or `notification.failed` with the
provider's reason), from the provider's signed webhooks. No message text or contact details travel here: the
volunteer id and the template name are enough for audit.
"""

from __future__ import annotations

from enum import StrEnum

from schemas.common import Attempts, Channel, EventId, FreeText, Id, Payload, TemplateName


class SuppressionReason(StrEnum):
    """Why a notification was deliberately not sent."""

    NO_CONSENT = "no_consent"
    NO_CONTACT = "no_contact"
    DUPLICATE = "duplicate"
    UNKNOWN_VOLUNTEER = "unknown_volunteer"
    # The cause event's time is further in the future than clocks can disagree.
    CAUSE_IN_FUTURE = "cause_in_future"
    # Reminders: the sign-up was withdrawn, the opportunity cancelled, unknown or already begun.
    WITHDRAWN = "withdrawn"
    CANCELLED = "cancelled"
    UNKNOWN_OPPORTUNITY = "unknown_opportunity"
    TOO_LATE = "too_late"


class NotificationSent(Payload):
    """The provider accepted a message for delivery."""

    notification_id: Id
    volunteer_id: Id
    template: TemplateName
    channel: Channel
    cause_event_id: EventId


class NotificationFailed(Payload):
    """Delivery failed for good after `attempts` tries; `error` is the provider's reason."""

    notification_id: Id
    volunteer_id: Id
    template: TemplateName
    channel: Channel
    cause_event_id: EventId
    error: FreeText
    attempts: Attempts


class NotificationDelivered(Payload):
    """The provider reported the message delivered to the volunteer's phone or mailbox."""

    notification_id: Id
    volunteer_id: Id
    template: TemplateName
    channel: Channel
    cause_event_id: EventId


class NotificationBounced(Payload):
    """The volunteer's mail server returned the email; `permanent`: the address is dead.

    After a permanent bounce nothing more is sent to that address until the volunteer's
    contact changes (a profile update with another address).
    """

    notification_id: Id
    volunteer_id: Id
    template: TemplateName
    channel: Channel
    cause_event_id: EventId
    permanent: bool
    reason: FreeText


class NotificationSuppressed(Payload):
    """A message was not sent on purpose (consent, no contact, duplicate)."""

    notification_id: Id
    volunteer_id: Id
    template: TemplateName
    channel: Channel
    cause_event_id: EventId
    reason: SuppressionReason
