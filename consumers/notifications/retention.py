"""Retention of the notifier's ledger: finished messages keep their facts, not their content.

The ledger keeps no rendered text and no address per message (texts are rendered at
send time from `contacts`, which erasure empties); what a finished row still holds that
says more than "this template went to this volunteer on this channel at this time" is
its `context` (what the text was made from: the opportunity, the hours, what changed)
and the provider's error text (an SMTP or HTTP answer may quote the address), and a
provider's feedback reason likewise. `TATAWWU_NOTIFY_KEEP_DAYS` (30) after a row was
finished and reported, `purge_ledger` empties the context and cuts both texts to their
code (`SMTP 550: <a@b> unknown` -> `SMTP 550`); ids, template, channel, status, attempts,
times and replies stay (counts, subject-access exports and audits need them).

Safe with several notifier instances and repeatable: each pass takes at most `batch`
rows `for update skip locked` (two instances purge different rows, neither waits on a
sender's row), and a purged row no longer matches. The notifier runs it every
`TATAWWU_RETENTION_INTERVAL_S` (`run_retention`); `tatawwu notifications purge` runs it once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import asyncpg
import structlog

from infra.periodic import every

log = structlog.get_logger(__name__)
BATCH = 5_000

_OUTBOX = """
with due as (
    select notification_id from outbox
    where status in ('sent', 'failed', 'suppressed') and reported and finished_at < $1
      and (context <> '{}'::jsonb or strpos(last_error, ':') > 0)
    order by finished_at limit $2
    for update skip locked
)
update outbox o set context = '{}'::jsonb,
    last_error = nullif(split_part(o.last_error, ':', 1), '')
from due where o.notification_id = due.notification_id
"""
_FEEDBACK = """
with due as (
    select feedback_id from feedback
    where reported and received_at < $1 and strpos(reason, ':') > 0
    order by received_at limit $2
    for update skip locked
)
update feedback f set reason = nullif(split_part(f.reason, ':', 1), '')
from due where f.feedback_id = due.feedback_id
"""
_COUNT = """
select count(*) from outbox
where status in ('sent', 'failed', 'suppressed') and reported and finished_at < $1
  and (context <> '{}'::jsonb or strpos(last_error, ':') > 0)
"""


def _updated(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def purge_ledger(
    db: asyncpg.Pool | asyncpg.Connection, before: dt.datetime, batch: int = BATCH
) -> dict[str, int]:
    """Purge rows finished (and feedback received) before `before`; rows changed per table.

    `db` must have the ledger's schema on its search path.
    """
    purged = {"outbox": 0, "feedback": 0}
    for table, sql in (("outbox", _OUTBOX), ("feedback", _FEEDBACK)):
        while True:
            changed = _updated(await db.execute(sql, before, batch))
            purged[table] += changed
            if changed < batch:
                break
    return purged


async def due_rows(db: asyncpg.Pool | asyncpg.Connection, before: dt.datetime) -> int:
    """How many ledger rows a purge at `before` would change (the CLI's --dry-run)."""
    return int(await db.fetchval(_COUNT, before))


def cutoff(now: dt.datetime, keep_days: float) -> dt.datetime:
    """Rows finished before this are purged."""
    return now - dt.timedelta(days=keep_days)


async def run_retention(
    pool: asyncpg.Pool,
    keep_days: float,
    interval_s: float,
    stopping: asyncio.Event,
    clock: Callable[[], dt.datetime] | None = None,
) -> None:
    """Purge at start, then every `interval_s`, until `stopping` (a failed pass is retried
    at the next one: nothing is lost by waiting)."""
    now = clock or (lambda: dt.datetime.now(dt.UTC))

    async def purge() -> None:
        purged = await purge_ledger(pool, cutoff(now(), keep_days))
        if any(purged.values()):
            log.info("ledger_purged", keep_days=keep_days, **purged)

    await every(interval_s, stopping, purge, "ledger_purge_failed")
