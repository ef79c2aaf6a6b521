"""`tatawwu simulate`: a seeded national activity stream to Kafka, the gateway or a file.

The stream is generated, sent and tallied as it goes (`run_streamed`): memory stays flat
whatever `--volunteers` and `--days` (producers/simulator/README.md has the figures).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from infra.settings import get_settings

if TYPE_CHECKING:  # the simulator is imported only when the command runs (fast start-up)
    from producers.simulator.run import StreamOutcome

KEY_ENV = "TATAWWU_PARTNER_KEY"


def _fraction(value: float) -> float:
    if not 0.0 <= value <= 1.0:
        msg = "must be a fraction between 0 and 1"
        raise typer.BadParameter(msg)
    return value


def _positive(value: float) -> float:
    if not value > 0:
        msg = "must be a positive number of hours"
        raise typer.BadParameter(msg)
    return value


def _share(value: float) -> float:
    if not 0.0 < value <= 1.0:
        msg = "must be a share above 0 and at most 1"
        raise typer.BadParameter(msg)
    return value


def simulate(
    seed: Annotated[int, typer.Option(help="Same seed, same stream and truth.")] = 42,
    volunteers: Annotated[int, typer.Option(min=0, help="Registered volunteers.")] = 2_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="Days of activity.")] = 30,
    orgs: Annotated[int | None, typer.Option(min=1, help="Partner organisations.")] = None,
    campaigns: Annotated[int | None, typer.Option(min=1, help="Campaigns.")] = None,
    until: Annotated[
        dt.datetime | None,
        typer.Option(formats=["%Y-%m-%d"], help="Last day of activity (default: today, UTC)."),
    ] = None,
    rate: Annotated[float, typer.Option(min=0, help="Records per second; 0: no limit.")] = 0.0,
    via: Annotated[
        str, typer.Option(help="kafka, gateway, file or null (generate and count only).")
    ] = "kafka",
    out: Annotated[Path | None, typer.Option(help="JSON-lines file for --via file.")] = None,
    gateway_url: Annotated[str | None, typer.Option(help="Gateway base URL.")] = None,
    key: Annotated[str | None, typer.Option(envvar=KEY_ENV, help="Partner (admin) key.")] = None,
    truth: Annotated[Path, typer.Option(help="Where to write the ground truth JSON.")] = Path(
        "simulation-truth.json"
    ),
    topic_prefix: Annotated[str, typer.Option(help="Prefix every topic name.")] = "",
    duplicates: Annotated[
        float, typer.Option(callback=_fraction, help="Share of events re-sent with the same id.")
    ] = 0.0,
    reorder: Annotated[
        bool, typer.Option(help="Shuffle send order in windows (across topics and keys).")
    ] = False,
    invalid: Annotated[
        float, typer.Option(callback=_fraction, help="Share of invalid records to inject.")
    ] = 0.0,
    intensity: Annotated[
        float,
        typer.Option(
            callback=_positive,
            help="Verified hours per active volunteer per year (59: the national figure).",
        ),
    ] = 59.0,
    active_share: Annotated[
        float,
        typer.Option(callback=_share, help="Share of registered volunteers active in a year."),
    ] = 0.5,
) -> None:
    """Generate a realistic, deterministic national activity stream and its ground truth."""
    from producers.simulator import SimConfig, Via
    from producers.simulator.run import run_streamed
    from producers.simulator.sinks import GatewayRefused

    err = Console(stderr=True, highlight=False)
    try:
        chosen = Via(via)
    except ValueError:
        msg = "choose kafka, gateway, file or null"
        raise typer.BadParameter(msg, param_hint="--via") from None
    if chosen is Via.FILE and out is None:
        raise typer.BadParameter("--via file needs --out", param_hint="--out")
    if chosen is Via.GATEWAY and not key:
        raise typer.BadParameter(f"--via gateway needs --key or ${KEY_ENV}", param_hint="--key")
    settings = get_settings()
    url = gateway_url or settings.gateway_url
    url = url or f"http://{settings.gateway_host}:{settings.gateway_port}"
    config = SimConfig(
        seed=seed, volunteers=volunteers, days=days, orgs=orgs, campaigns=campaigns,
        until=until.date() if until else dt.datetime.now(dt.UTC).date(),
        duplicates=duplicates, reorder=reorder, invalid=invalid, intensity=intensity,
        active_share=active_share,
    )  # fmt: skip
    progress = Progress(
        TextColumn(f"generating and sending via {chosen}"), BarColumn(),
        TextColumn("{task.completed:,} records"), TimeElapsedColumn(), console=err,
        disable=not err.is_terminal,
    )  # fmt: skip
    with progress:
        task = progress.add_task("send", total=None)
        work = run_streamed(
            config, via=chosen, settings=settings, out=out, gateway_url=url, key=key or "",
            rate=rate, topic_prefix=topic_prefix, truth_path=truth,
            progress=lambda n: progress.advance(task, n),
        )  # fmt: skip
        try:
            outcome = asyncio.run(work)
        except (GatewayRefused, OSError) as exc:
            err.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(code=1) from None
    _summarise(outcome, truth)


def _summarise(outcome: StreamOutcome, truth: Path) -> None:
    stats = outcome.stats
    table = Table("event type", "events", title="simulated events")
    for event_type, count in sorted(stats.by_type.items()):
        table.add_row(event_type, f"{count:,}")
    table.add_row("[bold]unique events", f"[bold]{stats.unique_events:,}")
    table.add_row("duplicates (same id)", f"{stats.duplicates:,}")
    for topic, count in sorted(stats.invalid_by_topic.items()):
        table.add_row(f"invalid on {topic}", f"{count:,}")
    table.add_row("[bold]records sent", f"[bold]{stats.total_records:,}")
    console = Console(highlight=False)
    console.print(table)
    delivery = outcome.delivery
    if delivery.refused:
        console.print(f"refused by the gateway: {delivery.refused:,} (the invalid records)")
    for problem in delivery.problems[:5]:
        console.print(f"[yellow]warning:[/] {problem}")
    console.print(
        f"{stats.total_records:,} records generated and sent in {outcome.seconds:.1f} s "
        f"({outcome.records_per_s:,.0f} events/s), truth in {outcome.truth_s:.1f} s; "
        f"truth written to {truth}"
    )


def register(app: typer.Typer) -> None:
    """Attach `simulate` to the `tatawwu` app."""
    app.command("simulate")(simulate)
