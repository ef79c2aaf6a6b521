"""`tatawwu notifications ...`: run the notifier and look after its ledger."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra.logging import configure_logging
from infra.settings import get_settings
from tatawwu.cli_messages import register_messages

notifications_app = typer.Typer(
    help="SMS and email to volunteers: run the notifier, inspect and retry its ledger.",
    no_args_is_help=True,
)
console = Console()
Schema = Annotated[str, typer.Option(help="PostgreSQL schema of the ledger.")]


@notifications_app.command("run")
def run(
    schema: Schema = "notifications",
    group_id: Annotated[str | None, typer.Option(help="Consumer group.")] = None,
    instance_id: Annotated[
        str | None, typer.Option(help="Stable id for static group membership.")
    ] = None,
    topic_prefix: Annotated[
        str, typer.Option(help="Read '<prefix>tatawwu.*' topics (tests).")
    ] = "",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /health, /ready and /metrics here (on TATAWWU_METRICS_HOST)."),
    ] = None,
) -> None:
    """Enqueue from the event log and deliver over SMTP and the SMS API until SIGTERM/SIGINT."""
    from consumers.notifications.service import serve

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(
        serve(
            settings, schema=schema, group_id=group_id, instance_id=instance_id,
            topic_prefix=topic_prefix, metrics_port=metrics_port,
        )
    )  # fmt: skip


async def _fetch(schema: str, sql: str, *args: Any) -> list[Any]:
    from infra.db import connect

    conn = await connect(get_settings())
    try:
        await conn.execute(f'set search_path to "{schema}"')
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


@notifications_app.command("status")
def status(schema: Schema = "notifications") -> None:
    """Counts by channel and state, the oldest message still waiting, and recent failures."""
    rows = asyncio.run(
        _fetch(
            schema,
            "select channel, status, count(*) as n, min(next_attempt_at) filter"
            " (where status in ('pending', 'sending')) as oldest_due"
            " from outbox group by 1, 2 order by 1, 2",
        )
    )
    table = Table(title="notifications ledger")
    for column in ("channel", "state", "count", "next due (pending)"):
        table.add_column(column)
    for r in rows:
        due = r["oldest_due"].isoformat(timespec="seconds") if r["oldest_due"] else ""
        table.add_row(r["channel"], r["status"], f"{r['n']:,}", due)
    console.print(table if rows else "The ledger is empty.")
    failures = asyncio.run(
        _fetch(
            schema,
            "select last_error, count(*) as n from outbox where status = 'failed'"
            " group by 1 order by 2 desc limit 5",
        )
    )
    for f in failures:
        console.print(f"[red]failed[/red] x{f['n']}: {f['last_error']}")


@notifications_app.command("list")
def list_cmd(
    state: Annotated[
        str, typer.Option("--status", help="pending, sending, sent, failed or suppressed.")
    ] = "failed",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    schema: Schema = "notifications",
) -> None:
    """Ledger rows in one state, newest first (ids only: no contact details, no texts)."""
    rows = asyncio.run(
        _fetch(
            schema,
            "select notification_id, template, channel, volunteer_id, attempts,"
            " coalesce(reason, last_error, '') as why, coalesce(finished_at, next_attempt_at) as at"
            " from outbox where status = $1 order by at desc limit $2",
            state,
            limit,
        )
    )
    table = Table(title=f"{state} notifications")
    for column in ("id", "template", "channel", "volunteer", "attempts", "why", "at"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["notification_id"], r["template"], r["channel"], r["volunteer_id"],
                      str(r["attempts"]), r["why"], r["at"].isoformat(timespec="seconds"))  # fmt: skip
    console.print(table if rows else f"No {state} notifications.")


@notifications_app.command("retry")
def retry(
    ids: Annotated[list[str] | None, typer.Argument(help="Notification ids to send again.")] = None,
    all_failed: Annotated[bool, typer.Option(help="Every failed notification.")] = False,
    schema: Schema = "notifications",
) -> None:
    """Queue failed notifications again (after fixing the provider); sent ones are never resent."""
    if not ids and not all_failed:
        raise typer.BadParameter("name notification ids or pass --all-failed")
    rows = asyncio.run(
        _fetch(
            schema,
            "update outbox set status = 'pending', attempts = 0, next_attempt_at = now(),"
            " finished_at = null, reported = false where status = 'failed'"
            " and ($1::text[] is null or notification_id = any($1::text[]))"
            " returning notification_id",
            None if all_failed else ids,
        )
    )
    console.print(f"{len(rows):,} notification(s) queued again.")


def register(app: typer.Typer) -> None:
    """Attach `tatawwu notifications`."""
    register_messages(notifications_app)  # confirmations, alerts (cli_messages.py)
    app.add_typer(notifications_app, name="notifications")
