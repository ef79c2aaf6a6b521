"""The leases one sender holds: when each runs out (without asking the database), and renewal.

A claim sets `lease_until = now() + lease` in the database; the sender notes, per row, a
local deadline of (its own clock *before* the claim was sent) + lease - a margin, which
can only come earlier than the database's. So "is my lease still running?" just before
a provider request costs no round trip, and errs on the side of not sending. Renewal
(`TATAWWU_NOTIFY_LEASE_RENEW`): every quarter of a lease, one statement extends the
leases of the rows this sender still works on that would run out within three quarters (a send queued behind the rate limit or a slow
provider keeps its row instead of having it claimed and asked for again by another
sender), for at most `RENEW_MAX_LEASES` leases after the claim. A row the renewal does
not find under its token any more was lost: it is not sent, nor recorded. A sender that
cannot renew (paused, or cut off from the database) loses its rows as before: fencing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import asyncpg
import structlog

from consumers.notifications import metrics
from consumers.notifications.rules import Claimed

log = structlog.get_logger(__name__)
RENEW_MAX_LEASES = 10
RENEW = """
update outbox o set lease_until = now() + make_interval(secs => $3)
from unnest($1::text[], $2::uuid[]) as h(notification_id, lease_token)
where o.notification_id = h.notification_id and o.lease_token = h.lease_token
  and o.status = 'sending'
returning o.notification_id, o.lease_token
"""
Key = tuple[str, object]


@dataclass
class _Held:
    claimed_at: float
    deadline: float
    lost: bool = False  # the renewal found another token on the row


class Leases:
    """Local deadlines of the rows held (by notification id and lease token), renewed."""

    def __init__(self, pool: asyncpg.Pool, lease_s: float, *, renew: bool = True) -> None:
        self.pool, self.lease_s, self.renew = pool, lease_s, renew
        self.margin = min(1.0, lease_s * 0.1)
        self._held: dict[Key, _Held] = {}
        self.renewed = 0  # leases extended since start (tests read it)

    def __len__(self) -> int:
        return len(self._held)

    @staticmethod
    def now() -> float:
        """The clock deadlines are kept in (take it before sending the claim)."""
        return time.monotonic()

    def claimed(self, rows: list[Claimed], began: float) -> None:
        """These rows were claimed by a statement sent at `began` (`now()`)."""
        for row in rows:
            key = (row.notification_id, row.lease_token)
            self._held[key] = _Held(began, began + self.lease_s - self.margin)

    def held(self, row: Claimed) -> bool:
        """Whether this claim's lease is certainly still running."""
        held = self._held.get((row.notification_id, row.lease_token))
        return held is not None and held.deadline > time.monotonic()

    def done(self, row: Claimed) -> None:
        """The row is recorded, released or given up: stop tracking (and renewing) it."""
        self._held.pop((row.notification_id, row.lease_token), None)

    async def run(self, stopping: asyncio.Event) -> None:
        """Renew every quarter of a lease until `stopping` is set (a failed try is skipped)."""
        if not self.renew:
            return
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.lease_s / 4)
            try:
                await self.renew_due()
            except Exception as exc:  # the lease then runs out: fencing covers it
                log.warning("lease_renew_failed", error=type(exc).__name__)

    async def renew_due(self) -> int:
        """Extend the leases that would run out within three quarters of a lease (also one
        that ran out here: if nobody claimed the row since, it is still ours); returns how
        many."""
        began = time.monotonic()
        soon = began + self.lease_s * 3 / 4
        due = [key for key, h in self._held.items() if h.deadline < soon and not h.lost
               and began - h.claimed_at < RENEW_MAX_LEASES * self.lease_s]  # fmt: skip
        if not due:
            return 0
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(RENEW, [k[0] for k in due], [k[1] for k in due], self.lease_s)
        kept = {(r["notification_id"], r["lease_token"]) for r in rows}
        for key in due:
            if (held := self._held.get(key)) is not None:
                held.deadline = began + self.lease_s - self.margin if key in kept else 0.0
                held.lost = key not in kept
        self.renewed += len(kept)
        metrics.LEASES_RENEWED.inc(len(kept))
        if lost := len(due) - len(kept):  # most often recorded meanwhile; else fenced later
            log.info("leases_not_renewed", rows=lost)
        return len(kept)
