"""Final outcomes as `notification.*` events (ids only, no text or contact) and their publishing."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from typing import Any

from infra.logging import _redact_text
from schemas.common import Channel
from schemas.decode import encode_event
from schemas.envelope import Event
from schemas.notifications import (
    NotificationFailed,
    NotificationSent,
    NotificationSuppressed,
    SuppressionReason,
)
from schemas.registry import new_event

SOURCE = "platform/notifications"


def one_line(text: str, limit: int = 500) -> str:
    """An error text safe for logs and events: one line, no personal data, bounded."""
    return (_redact_text(re.sub(r"\s+", " ", text)).strip() or "error")[:limit]


def outcome_event(row: dict[str, Any]) -> Any:
    """The `notification.*` event of a final ledger row (its id is stable per outcome)."""
    common = {
        "notification_id": row["notification_id"],
        "volunteer_id": row["volunteer_id"],
        "template": row["template"],
        "channel": Channel(row["channel"]),
        "cause_event_id": row["cause_event_id"],
    }
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


async def publish_outcomes(producer: Any, topic: str, events: Sequence[Event[Any]]) -> None:
    """Send outcome events keyed by volunteer; returns once Kafka acknowledged them all."""
    futures = [
        await producer.send(topic, encode_event(e), key=e.data.volunteer_id.encode())
        for e in events
    ]
    await asyncio.gather(*futures)
