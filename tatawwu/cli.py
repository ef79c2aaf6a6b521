"""The `tatawwu` command: one CLI for operators (infra, schemas, and more as components land)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.local.process import ServiceError
from infra.logging import configure_logging
from infra.settings import Settings, get_settings
from tatawwu import (
    cli_api,
    cli_notifications,
    cli_partners,
    cli_producers,
    cli_projections,
    cli_router,
    cli_schemas,
    cli_simulator,
    cli_sinks,
    cli_trickle,
    cli_volunteers,
)

app = typer.Typer(
    help="Tatawwu: the event backbone of the national volunteering platform.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
infra_app = typer.Typer(help="Start, stop and inspect the local stack (Kafka, PostgreSQL).")
app.add_typer(infra_app, name="infra")
console = Console(stderr=True)

Brokers = Annotated[
    int | None,
    typer.Option("--brokers", min=1, max=3, help="Kafka nodes: 1, or 3 for fault tests."),
]
Port = Annotated[int | None, typer.Option("--port", help="First Kafka broker port (default 9092).")]
Only = Annotated[
    list[str] | None,
    typer.Option("--only", help="Limit to these services: kafka, postgres (repeatable)."),
]


def _services(only: list[str] | None) -> tuple[str, ...]:
    from infra.local.stack import SERVICES

    chosen = tuple(only or SERVICES)
    unknown = sorted(set(chosen) - set(SERVICES))
    if unknown:
        msg = f"unknown service {', '.join(unknown)}; choose from {', '.join(SERVICES)}"
        raise typer.BadParameter(msg, param_hint="--only")
    return chosen


def _settings(brokers: int | None = None, port: int | None = None) -> Settings:
    settings = get_settings()
    changes: dict[str, int] = {}
    if brokers:
        changes["kafka_brokers"] = brokers
    if port:
        changes["kafka_port"] = port
    return settings.model_copy(update=changes) if changes else settings


def _fail(exc: Exception) -> typer.Exit:
    console.print(f"[bold red]error:[/] {exc}")
    return typer.Exit(code=1)


@infra_app.command("up")
def infra_up(
    brokers: Brokers = None,
    port: Port = None,
    only: Only = None,
    topics: Annotated[bool, typer.Option(help="Create the declared topics.")] = True,
    migrate: Annotated[bool, typer.Option(help="Apply every component's migrations.")] = True,
) -> None:
    """Start PostgreSQL and Kafka (fetching jars on first use), create topics, migrate."""
    from tatawwu.stack import up

    settings = _settings(brokers, port)
    configure_logging(settings.log_level, settings.log_format)
    try:
        with console.status("starting the local stack (first run fetches Kafka's jars)..."):
            report = up(settings, topics=topics, migrate=migrate, services=_services(only))
    except (ServiceError, RuntimeError, OSError) as exc:
        raise _fail(exc) from exc
    for note in report.notes:
        console.print(note)
    for what, seconds in report.timings.items():
        console.print(f"{what:<18} ready in {seconds:5.1f}s")
    console.print(f"Kafka      {settings.bootstrap_servers}")
    console.print(f"PostgreSQL {settings.dsn}")


@infra_app.command("down")
def infra_down(
    brokers: Brokers = None,
    port: Port = None,
    only: Only = None,
    purge: Annotated[bool, typer.Option(help="Also delete Kafka and PostgreSQL data.")] = False,
) -> None:
    """Stop the local services this project started (never external ones)."""
    from infra.local.stack import down

    stopped = down(_settings(brokers, port), purge=purge, services=_services(only))
    console.print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@infra_app.command("status")
def infra_status(brokers: Brokers = None, port: Port = None) -> None:
    """Show whether each local service is running and listening."""
    from infra.local.stack import kafka_cluster, postgres_cluster

    settings = _settings(brokers, port)
    table = Table("service", "port", "pid", "listening")
    if settings.kafka_is_external:
        table.add_row("kafka", settings.kafka_bootstrap, "external", "-")
    else:
        for row in kafka_cluster(settings).status():
            ports = (
                f"{row['port']}, {row['ssl_port']} SASL_SSL"
                if row["ssl_port"]
                else str(row["port"])
            )
            table.add_row(f"kafka node {row['node']}", ports, str(row["pid"] or "-"),
                          "yes" if row["listening"] else "no")  # fmt: skip
    if settings.database_is_external:
        table.add_row("postgres", "external", "-", "-")
    else:
        pg = postgres_cluster(settings).status()
        table.add_row("postgres", str(pg["port"]), str(pg["pid"] or "-"),
                      "yes" if pg["listening"] else "no")  # fmt: skip
    Console().print(table)


@infra_app.command("smoke")
def infra_smoke() -> None:
    """Prove an event round trip: publish to Kafka, consume, store in PostgreSQL, read back."""
    from tatawwu.smoke import round_trip

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    try:
        result = asyncio.run(round_trip(settings))
    except Exception as exc:
        raise _fail(exc) from exc
    console.print(
        f"round trip ok: event {result.event_id} -> partition {result.partition} offset "
        f"{result.offset} -> PostgreSQL in {result.milliseconds:.0f} ms "
        f"(correlation {result.correlation_id})"
    )


platform_app = typer.Typer(help="Run the whole platform (gateway and every projector).")
app.add_typer(platform_app, name="platform")


@platform_app.command("run")
def platform_run(
    gateway: Annotated[bool, typer.Option(help="Also run the partner gateway.")] = True,
    notifier: Annotated[bool, typer.Option(help="Also run the SMS/email notifier.")] = True,
    sinks: Annotated[
        bool | None,
        typer.Option(help="Run the local SMTP/SMS sinks (default: when the URLs are local)."),
    ] = None,
    seconds: Annotated[
        float | None, typer.Option(help="Stop after this long (default: Ctrl-C).")
    ] = None,
    trickle: Annotated[
        float | None,
        typer.Option(min=0.1, help="Also run `tatawwu trickle --rate RATE` (a live demo)."),
    ] = None,
) -> None:
    """Run the gateway, the router, the projectors and the notifier; restart what crashes.

    On the local stack each runs as its own Kafka principal. Ctrl-C stops them all.
    """
    import time
    from dataclasses import replace

    from tatawwu.manifest import GATEWAY, NOTIFIER, PLATFORM, ROUTER, SINKS, TRICKLE
    from tatawwu.supervisor import platform_children, supervise

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    log_dir = settings.cache_dir / "logs"
    if sinks is None:
        defaults = Settings.model_fields
        sinks = (settings.smtp_url, settings.sms_url) == (
            defaults["smtp_url"].default,
            defaults["sms_url"].default,
        )
    wanted = {GATEWAY.name: gateway, NOTIFIER.name: notifier, SINKS.name: sinks}
    processes = [p for p in PLATFORM if wanted.get(p.name, True)]
    if trickle:
        processes.append(replace(TRICKLE, options=("--rate", f"{trickle:g}")))
    children = platform_children(processes, log_dir, settings)
    console.print(f"logs:      {log_dir}/*.log")
    if gateway and GATEWAY.http_port is not None:
        console.print(
            f"gateway:   http://127.0.0.1:{GATEWAY.http_port(settings)}/v1/events"
            "  (health: /health, metrics: /metrics)"
        )
    console.print(
        f"router:    ingress topics tatawwu.ingress.<org> -> canonical topics, "
        f"metrics http://127.0.0.1:{ROUTER.metrics_port}/metrics"
    )
    for process in processes:
        if process.projector is not None:
            console.print(
                f"projector: {process.projector.name:<14} "
                f"metrics http://127.0.0.1:{process.metrics_port}/metrics"
            )
    if notifier:
        smtp, sms = (_without_credentials(u) for u in (settings.smtp_url, settings.sms_url))
        console.print(f"notifier:  email via {smtp}, SMS via {sms}")
    if sinks:
        console.print("sinks:     what they received: tatawwu sinks show")
    if trickle:
        console.print(f"trickle:   {trickle:g} partner facts/s through the gateway "
                      f"(log: {log_dir}/trickle.log)")  # fmt: skip
    console.print(
        "status:    tatawwu projections status | tatawwu notifications status   |   stop: Ctrl-C"
    )
    supervise(children, until=time.monotonic() + seconds if seconds else None)


def _without_credentials(url: str) -> str:
    """A URL fit to print: any user:password part replaced."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if not parts.username and not parts.password:
        return url
    host = parts.hostname or ""
    netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
    return parts._replace(netloc=netloc).geturl()


@app.command("migrate")
def migrate() -> None:
    """Apply every component's migrations to the configured database (idempotent)."""
    from tatawwu.stack import prepare

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(prepare(settings, topics=False, migrate=True))


# Each component's command group attaches itself through its `register(app)` function.
for commands in (
    cli_schemas, cli_partners, cli_producers, cli_projections, cli_simulator, cli_api,
    cli_sinks, cli_notifications, cli_router, cli_trickle, cli_volunteers,
):  # fmt: skip
    commands.register(app)


def main() -> None:
    """Console-script entry point: log lines go to stderr from the start, so that stdout
    carries only what a script reads (a secret printed once, JSON lines)."""
    try:
        settings = get_settings()
    except Exception:  # invalid settings: the command itself reports them
        settings = None
    if settings is not None:
        configure_logging(settings.log_level, settings.log_format)
    app()
