"""`tatawwu partners add|list|revoke`, `tatawwu publish` and `tatawwu gateway`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any, BinaryIO, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.settings import Settings, get_settings

T = TypeVar("T")
KEY_ENV = "TATAWWU_PARTNER_KEY"
SHOWN_REJECTIONS = 50

partners_app = typer.Typer(help="Partner keys for the HTTP gateway.", no_args_is_help=True)


class Via(StrEnum):
    """Where `publish` sends events."""

    GATEWAY = "gateway"
    KAFKA = "kafka"


def _err() -> Console:
    # Built per call so that CliRunner's captured stderr is the one written to.
    return Console(stderr=True, highlight=False)


async def _with_connection(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from infra.db import connect
    from infra.migrations import apply
    from producers.gateway.partners import MIGRATIONS

    conn = await connect(settings)
    try:
        await apply(conn, MIGRATIONS)  # the keys table may not exist yet on a fresh database
        return await work(conn)
    finally:
        await conn.close()


@partners_app.command("add")
def partners_add(
    org_id: Annotated[str, typer.Argument(help="The organisation the key emits for.")],
    admin: Annotated[bool, typer.Option("--admin", help="Platform-admin key: any org.")] = False,
) -> None:
    """Create a partner key and print it once: it is stored only as a hash."""
    from producers.gateway.partners import add_partner_key

    settings = get_settings()
    issued = asyncio.run(
        _with_connection(settings, lambda conn: add_partner_key(conn, org_id, admin=admin))
    )
    typer.echo(issued.key)
    kind = "platform-admin key" if admin else f"key for {org_id}"
    _err().print(f"created {kind} {issued.key_id}; store it now, it cannot be shown again")


@partners_app.command("list")
def partners_list() -> None:
    """List every key (id, organisation, admin, created, revoked); never the secrets."""
    from producers.gateway.partners import list_partner_keys

    records = asyncio.run(_with_connection(get_settings(), list_partner_keys))
    table = Table("key_id", "org_id", "admin", "created_at", "revoked_at")
    for record in records:
        revoked = f"{record.revoked_at:%Y-%m-%d %H:%M:%S}" if record.revoked_at else "-"
        table.add_row(record.key_id, record.org_id, "yes" if record.is_admin else "no",
                      f"{record.created_at:%Y-%m-%d %H:%M:%S}", revoked)  # fmt: skip
    Console(width=120).print(table)


@partners_app.command("revoke")
def partners_revoke(key_id: Annotated[str, typer.Argument(help="The key's id.")]) -> None:
    """Revoke a key: gateways refuse it within a few seconds (their key cache TTL)."""
    from producers.gateway.partners import UnknownKey, revoke_partner_key

    try:
        asyncio.run(_with_connection(get_settings(), lambda c: revoke_partner_key(c, key_id)))
    except UnknownKey as exc:
        _err().print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    _err().print(f"revoked {key_id}")


def publish(
    file: Annotated[
        typer.FileBinaryRead,
        typer.Argument(help="JSON Lines of CloudEvents; '-' reads stdin.", metavar="FILE"),
    ],
    via: Annotated[Via, typer.Option(help="Through the HTTP gateway or straight to Kafka.")] = (
        Via.GATEWAY
    ),
    gateway_url: Annotated[
        str | None, typer.Option(help="Gateway base URL (default from settings).")
    ] = None,
    key: Annotated[
        str | None, typer.Option(envvar=KEY_ENV, help=f"Partner key (or ${KEY_ENV}).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Events per request.")] = 500,
) -> None:
    """Publish every line of FILE; print a summary; exit 1 if any line was rejected."""
    from producers import publish as core

    settings = get_settings()
    stream: BinaryIO = file  # type: ignore[assignment]
    lines = core.read_lines(stream)
    if via is Via.GATEWAY and not key:
        _err().print(f"[bold red]error:[/] --via gateway needs --key or ${KEY_ENV}")
        raise typer.Exit(code=2)
    url = gateway_url or settings.gateway_url
    url = url or f"http://{settings.gateway_host}:{settings.gateway_port}"
    console = _err()
    progress = Progress(
        TextColumn("publishing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, disable=not console.is_terminal,
    )  # fmt: skip
    with progress:
        task = progress.add_task("publish", total=len(lines))

        def advance(count: int) -> None:
            progress.advance(task, count)

        if via is Via.KAFKA:
            work = core.publish_to_kafka(settings, lines, on_progress=advance)
        else:
            assert key is not None
            work = core.publish_to_gateway(url, key, lines, batch_size=batch_size,
                                           on_progress=advance)  # fmt: skip
        report = asyncio.run(work)
    _summarise(report)
    if not report.ok:
        raise typer.Exit(code=1)


def _summarise(report: Any) -> None:
    rejected = sorted(report.rejected, key=lambda r: r.line)
    for rejection in rejected[:SHOWN_REJECTIONS]:
        typer.echo(f"line {rejection.line}: rejected: {rejection.reason}")
    if len(rejected) > SHOWN_REJECTIONS:
        typer.echo(f"... and {len(rejected) - SHOWN_REJECTIONS} more rejected lines")
    typer.echo(f"{report.accepted} accepted, {len(rejected)} rejected")


def gateway() -> None:
    """Run the partner HTTP gateway (host and port from TATAWWU_GATEWAY_HOST/PORT)."""
    from infra.logging import configure_logging
    from producers.gateway.server import serve

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    _err().print(f"gateway on http://{settings.gateway_host}:{settings.gateway_port}")
    serve(settings)


def register(app: typer.Typer) -> None:
    """Attach the producer-side commands to the `tatawwu` app."""
    app.add_typer(partners_app, name="partners")
    app.command("publish")(publish)
    app.command("gateway")(gateway)
