"""Attendance confirmations: the auto-release of places left unanswered.

The request itself is an ordinary ledger row (`attendance_confirmation`, SMS, one per
volunteer and opportunity: `rules.PER_PAIR`), sent from `notify_confirmation_lead_h`
(48 h) before the shift until `notify_release_lead_h` (12 h) before it (`schedule.py`).
The volunteer answers by SMS; the gateway's inbound webhook records the answer on that
row (`reply` 'yes' / 'no', `replied_at`: migration 0005) and, on NO, withdraws the
sign-up itself (from `platform/replies`).

Silence changes nothing, unless the opportunity asks for it (`auto_release` on
`opportunity.published` or `opportunity.updated`): then, from `notify_release_lead_h`
before the start until the start, the `Releaser` withdraws each place whose request was
sent and is still unanswered, and whose volunteer is still signed up by the sign-up the
request was about (a sign-up made after the request was sent is left alone). The
withdrawal is a platform fact: `volunteer.signup_withdrawn` from
`platform/confirmations` (the ownership rules let the platform state any fact), on
`tatawwu.signups`, so the partner and every read model see it, and the notifier itself
tells the volunteer (`signup_withdrawn`) and promotes whoever waits (`waitlist.py`).

Exactly once in effect: the rows are locked (`for update skip locked`) while their
withdrawals are published and marked `released_at` only after Kafka acknowledged them;
a crash in between publishes again under the same event id (`release-<notification id>`),
which consumers deduplicate. A request suppressed (no consent, too late) releases
nothing: nobody was asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

import asyncpg
import structlog

from consumers.notifications.outcomes import one_line
from consumers.runtime import TRANSIENT
from infra.bus import KafkaUnavailable, publish
from infra.settings import Settings
from infra.streams import Publishers
from schemas.registry import CURRENT, new_event, type_of
from schemas.signups import VolunteerSignupWithdrawn
from schemas.topics import SIGNUPS

log = structlog.get_logger(__name__)
SOURCE = "platform/confirmations"
Clock = Callable[[], dt.datetime]
DUE = """
select o.notification_id, o.volunteer_id, p.opportunity_id, p.campaign_id
from outbox o
join opportunities op on op.opportunity_id = o.context ->> 'opportunity_id'
join participations p on p.volunteer_id = o.volunteer_id
    and p.opportunity_id = op.opportunity_id
where o.template = 'attendance_confirmation' and o.status = 'sent' and o.reply is null
  and o.released_at is null and op.auto_release and op.status = 'published'
  and p.signup_status = 'signed_up' and p.signup_time <= o.finished_at
  and op.starts_at - make_interval(secs => $1) <= $2 and op.starts_at > $2
order by o.finished_at limit $3
for update of o skip locked
"""


def release_publisher(publishers: Publishers, topic_prefix: str = "") -> Any:
    """Declare the notifier's publisher of released places (withdrawals on the sign-ups topic)."""
    envelope = CURRENT[type_of(VolunteerSignupWithdrawn)].envelope
    return publishers.declare(
        topic_prefix + SIGNUPS.name,
        title=f"{SIGNUPS.name}:notifier",
        description="Places released by the notifier (an attendance confirmation left "
        "unanswered on an opportunity with auto_release): volunteer.signup_withdrawn from "
        "platform/confirmations, keyed by volunteer_id (the CloudEvents subject).",
        schema=envelope,
    )


def release_event(row: dict[str, Any]) -> Any:
    """The withdrawal releasing one unanswered place (its id is stable per request)."""
    data = VolunteerSignupWithdrawn(
        volunteer_id=row["volunteer_id"],
        opportunity_id=row["opportunity_id"],
        campaign_id=row["campaign_id"],
    )
    return new_event(data, source=SOURCE, event_id=f"release-{row['notification_id']}")


class Releaser:
    """Releases unanswered places of auto-release opportunities when their time comes."""

    def __init__(
        self,
        settings: Settings,
        pool: asyncpg.Pool,
        publishers: Publishers,
        *,
        topic_prefix: str = "",
        clock: Clock | None = None,
        limit: int = 500,
    ) -> None:
        self.pool = pool
        self.publishers = publishers
        self.prefix = topic_prefix
        self.lead_s = settings.notify_release_lead_h * 3600
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.limit = limit

    async def run(self, stopping: asyncio.Event, every_s: float = 2.0) -> None:
        """Release due places until `stopping` is set."""
        while not stopping.is_set():
            try:
                busy = await self.release_due()
            except (*TRANSIENT, KafkaUnavailable) as exc:  # away: `released_at` covers it
                log.warning("release_retry", error=type(exc).__name__, detail=one_line(str(exc)))
                busy = 0
            if busy < self.limit:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), timeout=every_s)

    async def release_due(self) -> int:
        """One pass: publish the due releases, then mark them; returns how many."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(DUE, self.lead_s, self.clock(), self.limit)
            if not rows:
                return 0
            await publish(self.publishers, [release_event(dict(r)) for r in rows], self.prefix)
            await conn.execute(
                "update outbox set released_at = now() where notification_id = any($1::text[])",
                [r["notification_id"] for r in rows],
            )
        for row in rows:
            log.info("place_released", notification_id=row["notification_id"],
                     opportunity_id=row["opportunity_id"])  # fmt: skip
        return len(rows)
