"""`tatawwu projections ...` and `tatawwu dlq ...`: run and inspect the read models."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.logging import configure_logging
from infra.settings import get_settings

projections_app = typer.Typer(help="Run and inspect the projectors (read models).")
dlq_app = typer.Typer(help="Inspect the dead-letter topic.")


@projections_app.command("run")
def run(
    name: Annotated[str, typer.Argument(help="Projector to run, e.g. campaigns.")],
    instance_id: Annotated[
        str | None, typer.Option(help="Stable id for static group membership (fast restarts).")
    ] = None,
    schema: Annotated[
        str | None, typer.Option(help="PostgreSQL schema (default: the name).")
    ] = None,
    group_id: Annotated[
        str | None, typer.Option(help="Consumer group (default per projector).")
    ] = None,
    topic_prefix: Annotated[
        str, typer.Option(help="Read '<prefix>tatawwu.*' topics (tests).")
    ] = "",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /health, /ready and /metrics here (on TATAWWU_METRICS_HOST)."),
    ] = None,
) -> None:
    """Run one projector instance until SIGTERM/SIGINT; the batch in flight is finished."""
    from consumers.run import serve
    from tatawwu.manifest import projector_named

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    projector = projector_named(name)
    asyncio.run(
        serve(
            projector,
            settings,
            instance_id=instance_id,
            schema=schema,
            group_id=group_id,
            topic_prefix=topic_prefix,
            metrics_port=metrics_port,
        )
    )


@projections_app.command("rebuild")
def rebuild_cmd(
    name: Annotated[str, typer.Argument(help="Projector to rebuild, e.g. campaigns.")],
    keep_old: Annotated[
        bool, typer.Option(help="Keep the replaced schema as <name>__old.")
    ] = False,
) -> None:
    """Replay the log into fresh tables while the old ones keep serving, then swap atomically."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from consumers.rebuild import rebuild
    from consumers.runtime import tune_gc
    from tatawwu.manifest import projector_named

    settings = get_settings()
    tune_gc()
    configure_logging("WARNING", settings.log_format)
    console = Console(stderr=True)
    with Progress(
        TextColumn(f"rebuilding {name}"), BarColumn(), TextColumn("{task.completed:,}/{task.total:,} records"),
        TimeRemainingColumn(), console=console, disable=not console.is_terminal,
    ) as bar:  # fmt: skip
        task = bar.add_task(name, total=None)
        report = asyncio.run(
            rebuild(settings, projector_named(name), keep_old=keep_old,
                    progress=lambda done, total: bar.update(task, completed=done, total=total))
        )  # fmt: skip
    console.print(
        f"{report.schema}: rebuilt from {report.records:,} records "
        f"({report.events_applied:,} events applied) in {report.seconds:.1f}s, swapped in"
    )


@projections_app.command("status")
def status(
    partitions: Annotated[bool, typer.Option(help="Also show lag per partition.")] = False,
) -> None:
    """Per projector: events applied, duplicates, dead letters, last event time, lag."""
    from consumers.status import collect
    from tatawwu.manifest import PROJECTORS

    rows = asyncio.run(collect(get_settings(), PROJECTORS))
    table = Table("projector", "applied", "duplicates", "dead-lettered", "last event", "lag")
    for row in rows:
        table.add_row(
            row.name, f"{row.applied:,}", f"{row.duplicates:,}", f"{row.dead_lettered:,}",
            row.last_event_time.isoformat(timespec="seconds") if row.last_event_time else "-",
            "-" if row.lag is None else f"{row.lag:,}",
        )  # fmt: skip
    Console().print(table)
    if partitions:
        detail = Table("projector", "topic/partition", "applied up to", "end", "lag")
        for row in rows:
            for topic, partition, nxt, end in row.partitions:
                detail.add_row(row.name, f"{topic}/{partition}", f"{nxt:,}", f"{end:,}",
                               f"{max(0, end - nxt):,}")  # fmt: skip
        Console().print(detail)
    if not rows:
        Console(stderr=True).print("no projector has run yet (tatawwu projections run NAME)")


@dlq_app.command("list")
def dlq_list(
    limit: Annotated[int, typer.Option(help="Show at most this many.")] = 50,
) -> None:
    """List dead letters (one per projector and original record), newest last."""
    from consumers.router import NAME as ROUTER
    from consumers.status import dead_letters
    from tatawwu.manifest import PROJECTORS

    table = Table("projector", "origin", "reason", "event type", "detail")
    for d in asyncio.run(dead_letters(get_settings(), limit, [*PROJECTORS, ROUTER])):
        table.add_row(
            d["projector"], d["origin"], d["reason"], d["event_type"] or "-", d["detail"][:80]
        )
    Console().print(table)


@dlq_app.command("replay")
def dlq_replay(
    projector: Annotated[
        str | None,
        typer.Option(
            help="Only letters from this projector ('router': back to the ingress topic)."
        ),
    ] = None,
    reason: Annotated[str | None, typer.Option(help="Only this error, e.g. apply_failed.")] = None,
) -> None:
    """Re-publish dead letters to their original topics (after a fix); each origin once ever."""
    from consumers.dlq import replay

    report = asyncio.run(replay(get_settings(), projector=projector, reason=reason))
    Console(stderr=True).print(
        f"{report.dead_letters} dead letters, {report.origins} distinct origins matched: "
        f"{len(report.replayed)} replayed, {report.already_replayed} replayed before, "
        f"{report.unreadable} unreadable (key destroyed: erased volunteer or past retention)"
    )


@dlq_app.command("purge-keys")
def dlq_purge_keys(
    older_than_days: Annotated[
        float | None,
        typer.Option(
            min=1,
            help="Destroy the platform's dead-letter keys of days longer "
            "ago (default: TATAWWU_DEADLETTER_KEEP_DAYS, 30).",
        ),
    ] = None,
) -> None:
    """Make dead letters that name no volunteer unreadable once past their retention (the
    router does this every TATAWWU_RETENTION_INTERVAL_S; this runs it once)."""
    from consumers.sealed_letters import drop_expired_keys
    from infra.db import create_pool
    from infra.keys import build_key_service

    settings = get_settings()
    days = settings.deadletter_keep_days if older_than_days is None else older_than_days

    async def purge() -> int:
        pool = await create_pool(settings, min_size=1, max_size=1)
        try:
            return await drop_expired_keys(build_key_service(settings, pool), days)
        finally:
            await pool.close()

    dropped = asyncio.run(purge())
    Console(stderr=True).print(f"destroyed {dropped} dead-letter key(s) older than {days:g} days")


@dlq_app.command("show")
def dlq_show(
    limit: Annotated[int, typer.Option(help="The last this many dead letters.")] = 20,
) -> None:
    """Print dead letters with their payloads, opened where the key still exists.

    A router dead letter's payload is sealed (it may hold a partner's clear personal
    data); this prints it in clear for the operator who asks. An erased volunteer's, or a
    platform-sealed one past TATAWWU_DEADLETTER_KEEP_DAYS, shows as unreadable.
    """
    from consumers.dlq import show

    for letter in asyncio.run(show(get_settings(), limit)):
        typer.echo(json.dumps(letter, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Attach the projections and dlq command groups."""
    app.add_typer(projections_app, name="projections")
    app.add_typer(dlq_app, name="dlq")
