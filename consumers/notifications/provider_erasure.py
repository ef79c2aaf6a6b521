"""Erasure reaches the providers: what they keep of an erased volunteer's messages goes.

An SMS gateway keeps a log of the messages it sent, a mail service its stored copies; an
erasure that stopped at the notifier's ledger would leave the volunteer's number, address
and name readable there. The notifier's erasure (`projector.forget_erased`) writes one
`provider_erasures` row per message the volunteer was sent, in the erasure's own
transaction; this job asks each provider to delete its message (`Providers.erase`: `DELETE
<sms_url>/<id>`, `DELETE <email_api_url>/<Message-ID>`) and removes the row once the
provider answered. A provider away, or failing, is asked again at the next pass (the row
counts its attempts), so a killed notifier or a provider outage delays the deletion but
never drops it; a message in flight at the erasure is asked after once it is recorded
(`erasures_in_flight`). A provider without such an API (`TATAWWU_EMAIL_API_URL` empty, or 405 /
501) keeps its copies until its own retention: logged as `unsupported`, by count. Logs
carry counts only, never ids or addresses.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import asyncpg
import structlog

from consumers.notifications.providers import DeliveryError, Providers
from infra.periodic import every

log = structlog.get_logger(__name__)
BATCH, CONCURRENCY = 200, 8


# A message in flight when its volunteer was erased (claimed, being sent) is recorded as
# sent after the erasure's batch: it is asked after as well. Which volunteers still have
# one is read first, then what finished is asked; a volunteer is let go only when the
# first read found nothing of theirs in flight, so nothing finishing in between is missed.
STILL_IN_FLIGHT = """
select e.volunteer_id from erasures_in_flight e where exists
  (select 1 from outbox o where o.volunteer_id = e.volunteer_id and o.status = 'sending')
"""
ASK_LATE = """
insert into provider_erasures (channel, provider_id, volunteer_id)
select o.channel, o.provider_id, o.volunteer_id from outbox o
join erasures_in_flight e on e.volunteer_id = o.volunteer_id
where coalesce(o.provider_id, '') <> '' and o.finished_at >= e.erased_at
on conflict do nothing
"""


async def ask_after_in_flight(conn: asyncpg.Connection) -> None:
    """Ask after the messages of erased volunteers that were in flight at the erasure."""
    if not await conn.fetchval("select exists (select 1 from erasures_in_flight)"):
        return
    waiting = [r["volunteer_id"] for r in await conn.fetch(STILL_IN_FLIGHT)]
    await conn.execute(ASK_LATE)
    await conn.execute(
        "delete from erasures_in_flight where volunteer_id <> all($1::text[])", waiting
    )


async def erase_at_providers(pool: asyncpg.Pool, providers: Providers) -> Counter[str]:
    """One pass: ask the providers to delete every message still to be erased there;
    returns how many were `erased`, `unsupported` and `failed` (asked again later)."""
    outcomes: Counter[str] = Counter()
    async with pool.acquire() as conn:
        await ask_after_in_flight(conn)
    limit = asyncio.Semaphore(CONCURRENCY)

    async def ask(channel: str, provider_id: str) -> tuple[str, str, str]:
        async with limit:
            try:
                return channel, provider_id, await providers.erase(channel, provider_id)
            except DeliveryError:
                return channel, provider_id, "failed"

    while True:
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                "select channel, provider_id from provider_erasures order by attempts,"
                " requested_at limit $1",
                BATCH,
            )
        if not rows:
            break
        answers = await asyncio.gather(*(ask(r["channel"], r["provider_id"]) for r in rows))
        done = [(c, p) for c, p, outcome in answers if outcome != "failed"]
        failed = [(c, p) for c, p, outcome in answers if outcome == "failed"]
        outcomes.update(outcome for _, _, outcome in answers)
        async with pool.acquire() as conn:
            await conn.execute(
                "delete from provider_erasures where (channel, provider_id) in"
                " (select * from unnest($1::text[], $2::text[]))",
                [c for c, _ in done], [p for _, p in done],
            )  # fmt: skip
            await conn.execute(
                "update provider_erasures set attempts = attempts + 1 where (channel,"
                " provider_id) in (select * from unnest($1::text[], $2::text[]))",
                [c for c, _ in failed], [p for _, p in failed],
            )  # fmt: skip
        if failed:  # the rest waits for the next pass
            break
    if outcomes:
        log.info("provider_erasures", **dict(outcomes))
    return outcomes


async def run_provider_erasures(
    pool: asyncpg.Pool, providers: Providers, stopping: asyncio.Event, interval_s: float = 5.0
) -> None:
    """`erase_at_providers` every `interval_s` until `stopping` is set."""

    async def job() -> None:
        await erase_at_providers(pool, providers)

    await every(interval_s, stopping, job, "provider_erasure_failed")
