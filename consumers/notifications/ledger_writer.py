"""Batched ledger updates: what became of many claimed rows, in one statement.

Each delivery awaits its own row's update, as before, but the updates of the moment go
to PostgreSQL together (one `update ... from unnest(...)`, one commit) instead of one
statement and one commit per message. Fencing is unchanged: each row is updated only
while its lease token is still the row's and it is `sending`; the statement returns
the rows it updated, and a caller whose row is not among them learns it was fenced.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from consumers.notifications.rules import Claimed

FINAL = frozenset({"sent", "failed", "suppressed"})
UPDATE = """
update outbox o set
    status = u.status,
    attempts = o.attempts + u.attempts_delta,
    reason = case when u.status = 'pending' then o.reason else u.reason end,
    last_error = coalesce(u.error, o.last_error),
    provider_id = case when u.status = 'pending' then o.provider_id else u.provider_id end,
    finished_at = case when u.status = 'pending' then o.finished_at else now() end,
    reported = case when u.status = 'pending' then o.reported else false end,
    next_attempt_at = coalesce(u.until, now() + make_interval(secs => u.retry_in_s),
                               o.next_attempt_at),
    lease_until = null
from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::float8[], $8::timestamptz[], $9::int[])
    as u(notification_id, lease_token, status, reason, error, provider_id, retry_in_s,
         until, attempts_delta)
where o.notification_id = u.notification_id and o.lease_token = u.lease_token
  and o.status = 'sending'
returning o.notification_id, o.lease_token
"""


@dataclass(frozen=True)
class Change:
    """What becomes of a claimed row: final (`sent`, `failed`, `suppressed`), or `pending`
    again: retried `retry_in_s` from now, held `until` a time, or released (neither)."""

    status: str
    reason: str | None = None
    error: str | None = None
    provider_id: str | None = None
    retry_in_s: float | None = None
    until: dt.datetime | None = None
    attempts_delta: int = 0  # -1: this claim does not count as an attempt (held, released)


@dataclass
class _Waiting:
    row: Claimed
    change: Change
    done: asyncio.Future[bool]


class LedgerWriter:
    """Record changes of claimed rows, `max_rows` to a statement, one statement at a time."""

    def __init__(self, pool: asyncpg.Pool, *, max_rows: int = 500, linger_s: float = 0.02,
                 on_final: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.pool, self.max_rows, self.linger_s = pool, max_rows, linger_s
        self.on_final = on_final
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None
        self.statements = 0  # update statements run (tests and the benchmark read it)

    async def record(self, row: Claimed, change: Change) -> bool:
        """Apply the change while this claim holds the row; False: fenced (nothing changed)."""
        waiting = _Waiting(row, change, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await waiting.done

    async def _flush(self) -> None:
        while self._waiting:
            if len(self._waiting) < self.max_rows:
                await asyncio.sleep(self.linger_s)  # the changes of this moment go together
            batch = self._waiting[: self.max_rows]
            self._waiting = self._waiting[self.max_rows :]
            try:
                updated = await self._update(batch)
            except BaseException as exc:
                for one in batch:
                    if one.done.done():
                        continue
                    if isinstance(exc, Exception):
                        one.done.set_exception(exc)
                    else:
                        one.done.cancel()
                if not isinstance(exc, Exception):
                    raise
                continue
            for one in batch:
                if not one.done.done():
                    one.done.set_result((one.row.notification_id, one.row.lease_token) in updated)
            if self.on_final and any(one.change.status in FINAL for one in batch):
                self.on_final()

    async def _update(self, batch: list[_Waiting]) -> set[tuple[str, object]]:
        columns: list[list[object]] = [[] for _ in range(9)]
        for one in batch:
            c = one.change
            values = (one.row.notification_id, one.row.lease_token, c.status, c.reason, c.error,
                      c.provider_id, c.retry_in_s, c.until, c.attempts_delta)  # fmt: skip
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(UPDATE, *columns)
        self.statements += 1
        return {(r["notification_id"], r["lease_token"]) for r in rows}
