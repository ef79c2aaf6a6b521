"""Final outcomes as `notification.*` events (ids only, no text or contact) and their publishing.

The notifier publishes them through its FastStream publisher (`outcome_publisher`, the
object the AsyncAPI document is generated from) via `infra.bus.publish`: structured-mode
CloudEvents (`content-type: application/cloudevents+json`, W3C trace headers), keyed by
the volunteer (the subject).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any, Union

from infra.bus import publish
from infra.logging import _redact_text
from infra.streams import Publishers
from schemas.common import Channel
from schemas.decode import encode_event
from schemas.envelope import Event
from schemas.notifications import (
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
    SuppressionReason,
)
from schemas.registry import CURRENT, new_event
from schemas.topics import NOTIFICATIONS

SOURCE = "platform/notifications"


def one_line(text: str, limit: int = 500) -> str:
    """An error text safe for logs and events: one line, no personal data, bounded."""
    return (_redact_text(re.sub(r"\s+", " ", text)).strip() or "error")[:limit]


def common_fields(row: dict[str, Any]) -> dict[str, Any]:
    """The fields every `notification.*` event takes from its ledger row."""
    return {
        "notification_id": row["notification_id"],
        "volunteer_id": row["volunteer_id"],
        "template": row["template"],
        "channel": Channel(row["channel"]),
        "cause_event_id": row["cause_event_id"],
    }


def outcome_event(row: dict[str, Any]) -> Any:
    """The `notification.*` event of a final ledger row (its id is stable per outcome)."""
    common = common_fields(row)
    status = row["status"]
    if status == "sent":
        data: Any = NotificationSent(**common)
    elif status == "failed":
        data = NotificationFailed(
            **common,
            error=one_line(row["last_error"] or "failed"),
            attempts=max(1, row["attempts"]),
        )
    else:
        data = NotificationSuppressed(**common, reason=SuppressionReason(row["reason"]))
    return new_event(
        data, source=SOURCE, event_id=f"{row['notification_id']}.{status}", time=row["finished_at"]
    )


def outcome_publisher(publishers: Publishers, topic_prefix: str = "") -> Any:
    """Declare the notifier's outcome publisher, with the outcome envelopes as its payload."""
    envelopes = tuple(s.envelope for s in CURRENT.values() if s.topic.name == NOTIFICATIONS.name)
    return publishers.declare(
        topic_prefix + NOTIFICATIONS.name,
        title=f"{NOTIFICATIONS.name}:notifier",
        description="Final notification outcomes (ids only), keyed by volunteer_id (the "
        "CloudEvents subject); published by the notifier.",
        schema=Union[envelopes],  # noqa: UP007 - a runtime union
    )


async def publish_outcomes(producer: Any, topic: str, events: Sequence[Event[Any]]) -> None:
    """Send outcome events keyed by volunteer; returns once Kafka acknowledged them all.

    `producer` is the notifier's `Publishers` (FastStream; the topic must be declared
    there) or, for callers without a broker, an aiokafka producer.
    """
    if isinstance(producer, Publishers):
        prefix = topic.removesuffix(NOTIFICATIONS.name)
        await publish(producer, events, prefix)
        return
    futures = [
        await producer.send(topic, encode_event(e), key=e.data.volunteer_id.encode())
        for e in events
    ]
    await asyncio.gather(*futures)
