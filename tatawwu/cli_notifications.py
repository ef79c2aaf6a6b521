"""`tatawwu notifications ...`: run the notifier and look after its ledger."""

from __future__ import annotations

import asyncio
import json
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


async def _status(schema: str) -> dict[str, Any]:
    from consumers.notifications.ledger_stats import AGE_LABELS, oldest_due_s, totals, waiting
    from infra.db import connect

    conn = await connect(get_settings())
    try:
        await conn.execute(f'set search_path to "{schema}"')
        counted, pending = await totals(conn), await waiting(conn)
        failures = await conn.fetch(
            "select last_error, count(*) as n from outbox where status = 'failed'"
            " group by 1 order by 2 desc limit 5"
        )
    finally:
        await conn.close()
    channels = sorted({r["channel"] for r in counted} | {r.channel for r in pending})
    return {
        "schema": schema,
        "totals": [
            {
                "channel": r["channel"],
                "template": r["template"],
                "status": r["status"],
                "count": r["n"],
            }
            for r in counted
        ],
        "pending": {
            c: {
                age: sum(r.count for r in pending if (r.channel, r.due_age) == (c, age))
                for age in AGE_LABELS
            }
            for c in channels
        },
        "oldest_due_s": {c: round(oldest_due_s(pending, c), 1) for c in channels},
        "failures": [{"error": f["last_error"], "count": f["n"]} for f in failures],
    }


@notifications_app.command("status")
def status(
    schema: Schema = "notifications",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
) -> None:
    """Messages by channel, template and state; what waits, by how long it has been due
    (the same figures as the notifier's metrics); the most common failures."""
    report = asyncio.run(_status(schema))
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    if not report["totals"]:
        console.print("The ledger is empty.")
        return
    states = ("pending", "sending", "sent", "failed", "suppressed")
    table = Table(title=f"notifications ledger ({schema})")
    for column in ("channel", "template", *states):
        table.add_column(column, justify="left" if column in ("channel", "template") else "right")
    by_key: dict[tuple[str, str], dict[str, int]] = {}
    for r in report["totals"]:
        by_key.setdefault((r["channel"], r["template"]), {})[r["status"]] = r["count"]
    for (channel, template), counts in sorted(by_key.items()):
        table.add_row(channel, template, *(f"{counts.get(s, 0):,}" for s in states))
    console.print(table)
    waiting = Table(title="waiting, by how long due (later: not due yet)")
    ages = next(iter(report["pending"].values()), {}).keys()
    for column in ("channel", *ages, "oldest due"):
        waiting.add_column(column, justify="left" if column == "channel" else "right")
    for channel, counts in report["pending"].items():
        waiting.add_row(channel, *(f"{n:,}" for n in counts.values()),
                        f"{report['oldest_due_s'][channel]:,.0f} s")  # fmt: skip
    console.print(waiting)
    for f in report["failures"]:
        console.print(f"[red]failed[/red] x{f['count']}: {f['error']}")


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


async def _purge(schema: str, days: float, dry_run: bool) -> dict[str, int]:
    import datetime as dt

    from consumers.notifications.retention import cutoff, due_rows, purge_ledger
    from infra.db import connect

    conn = await connect(get_settings())
    try:
        await conn.execute(f'set search_path to "{schema}"')
        before = cutoff(dt.datetime.now(dt.UTC), days)
        if dry_run:
            return {"outbox": await due_rows(conn, before)}
        return await purge_ledger(conn, before)
    finally:
        await conn.close()


@notifications_app.command("purge")
def purge(
    older_than_days: Annotated[
        float | None,
        typer.Option(
            min=0, help="Purge rows finished longer ago (default: TATAWWU_NOTIFY_KEEP_DAYS, 30)."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option(help="Only count the rows a purge would change.")
    ] = False,
    schema: Schema = "notifications",
) -> None:
    """Forget what finished messages were made from: context emptied, provider texts cut to
    their code (ids, template, channel, status and times stay). The notifier does this
    every TATAWWU_RETENTION_INTERVAL_S; this runs it once. Repeatable."""
    days = get_settings().notify_keep_days if older_than_days is None else older_than_days
    purged = asyncio.run(_purge(schema, days, dry_run))
    verb = "would purge" if dry_run else "purged"
    console.print(
        f"{verb} {purged['outbox']:,} ledger row(s) finished over {days:g} days ago"
        + ("" if dry_run else f", {purged['feedback']:,} feedback row(s)")
    )


def register(app: typer.Typer) -> None:
    """Attach `tatawwu notifications`."""
    register_messages(notifications_app)  # confirmations, alerts (cli_messages.py)
    app.add_typer(notifications_app, name="notifications")
