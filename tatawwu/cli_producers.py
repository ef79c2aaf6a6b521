"""`tatawwu publish` and `tatawwu gateway` (partners: `cli_partners`)."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated, Any, BinaryIO, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from infra.settings import get_settings

T = TypeVar("T")
KEY_ENV = "TATAWWU_PARTNER_KEY"
SHOWN_REJECTIONS = 50


class Via(StrEnum):
    """Where `publish` sends events."""

    GATEWAY = "gateway"
    KAFKA = "kafka"


def _err() -> Console:
    # Built per call so that CliRunner's captured stderr is the one written to.
    return Console(stderr=True, highlight=False)


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
    app.command("publish")(publish)
    app.command("gateway")(gateway)
