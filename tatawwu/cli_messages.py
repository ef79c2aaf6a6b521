"""`tatawwu notifications confirmations|alerts`: the new messages' state, per opportunity.

Ids and counts only (no contact details, no texts), read from the notifier's ledger.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

console = Console()
Schema = Annotated[str, typer.Option(help="PostgreSQL schema of the ledger.")]
Limit = Annotated[int, typer.Option(min=1, max=1000, help="Opportunities shown, newest first.")]
CONFIRMATIONS = """
select context ->> 'opportunity_id' as opportunity_id,
    count(*) filter (where status = 'sent') as asked,
    count(*) filter (where reply = 'yes') as yes,
    count(*) filter (where reply = 'no') as no,
    count(*) filter (where status = 'sent' and reply is null and released_at is null)
        as unanswered,
    count(released_at) as released,
    count(*) filter (where status in ('pending', 'sending')) as waiting,
    max(finished_at) as last
from outbox where template = 'attendance_confirmation'
group by 1 order by last desc nulls last limit $1
"""
ALERTS = """
with latest as (select * from alerted_opportunities order by alerted_at desc limit $1)
select a.opportunity_id, a.alerted_at, a.volunteers,
    count(*) filter (where o.status = 'sent') as sent,
    count(*) filter (where o.status in ('pending', 'sending')) as waiting,
    count(*) filter (where o.status in ('suppressed', 'failed')) as not_sent
from latest a
left join alert_days d on a.opportunity_id = any(d.opportunity_ids)
left join outbox o on o.notification_id = d.notification_id
group by a.opportunity_id, a.alerted_at, a.volunteers order by a.alerted_at desc
"""


def _fetch(schema: str, sql: str, limit: int) -> list[dict[str, object]]:
    from infra.db import connect
    from infra.settings import get_settings

    async def fetch() -> list[dict[str, object]]:
        conn = await connect(get_settings())
        try:
            await conn.execute(f'set search_path to "{schema}"')
            return [dict(r) for r in await conn.fetch(sql, limit)]
        finally:
            await conn.close()

    return asyncio.run(fetch())


def confirmations(schema: Schema = "notifications", limit: Limit = 20) -> None:
    """Attendance confirmations per opportunity: asked, answers, unanswered, released."""
    rows = _fetch(schema, CONFIRMATIONS, limit)
    table = Table(title="attendance confirmations")
    columns = ("opportunity_id", "asked", "yes", "no", "unanswered", "released", "waiting")
    for column in columns:
        table.add_column(column.replace("_id", ""), justify="left" if column[0] == "o" else "right")
    for r in rows:
        table.add_row(*(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in columns))
    console.print(table if rows else "No attendance confirmation yet.")


def alerts(schema: Schema = "notifications", limit: Limit = 20) -> None:
    """Opportunity alerts: volunteers matched, and their alert or digest sent, waiting or not."""
    rows = _fetch(schema, ALERTS, limit)
    table = Table(title="opportunity alerts (an alert or digest listing the opportunity)")
    for column in ("opportunity", "alerted at", "matched", "sent", "waiting", "not sent"):
        table.add_column(column)
    for r in rows:
        at = r["alerted_at"]
        table.add_row(str(r["opportunity_id"]), at.isoformat(timespec="seconds"),  # type: ignore[attr-defined]
                      *(f"{r[c]:,}" for c in ("volunteers", "sent", "waiting", "not_sent")))  # fmt: skip
    console.print(table if rows else "No opportunity alerted yet.")


def register_messages(app: typer.Typer) -> None:
    """Attach `confirmations` and `alerts` to `tatawwu notifications`."""
    app.command("confirmations")(confirmations)
    app.command("alerts")(alerts)
