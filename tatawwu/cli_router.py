"""`tatawwu router ...`: run the Kafka-ingress router, show what it forwarded and refused."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from infra.logging import configure_logging
from infra.settings import get_settings

router_app = typer.Typer(
    help="The Kafka-ingress router: partners' own topics (tatawwu.ingress.<org>) validated, "
    "judged as the topic's organisation and forwarded to the canonical topics exactly once.",
    no_args_is_help=True,
)
console = Console()
TopicPrefix = Annotated[
    str,
    typer.Option(help="Read '<prefix>tatawwu.ingress.*' and write '<prefix>tatawwu.*' (tests)."),
]


@router_app.command("run")
def run(
    topic_prefix: TopicPrefix = "",
    instance_id: Annotated[
        str,
        typer.Option(
            help="Stable id of this router instance: its static group membership and its "
            "transactional id (tatawwu-router-<id>); a restart with the same id fences the "
            "previous process. Run one instance per consumer group."
        ),
    ] = "router-1",
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /health, /ready and /metrics here (on TATAWWU_METRICS_HOST)."),
    ] = None,
    max_records: Annotated[
        int, typer.Option(min=1, help="Records per batch (one Kafka transaction each).")
    ] = 10_000,
) -> None:
    """Forward accepted ingress events, dead-letter refused ones, until SIGTERM/SIGINT."""
    from consumers.router.service import serve

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(settings, topic_prefix=topic_prefix, instance_id=instance_id,
                      metrics_port=metrics_port, max_records=max_records))  # fmt: skip


@router_app.command("status")
def status(topic_prefix: TopicPrefix = "") -> None:
    """Per direct partner: ingress lag, accepted and refused (by rule) counts."""
    from consumers.router import router_status

    rows = asyncio.run(router_status(get_settings(), topic_prefix))
    table = Table(title="Kafka-ingress router")
    for column in ("org", "ingress topic", "end", "committed", "lag", "accepted", "refused"):
        table.add_column(column)
    for r in rows:
        refused = ", ".join(f"{rule} {n:,}" for rule, n in sorted(r["refused"].items()))
        table.add_row(r["org"], r["topic"], f"{r['end_offset']:,}", f"{r['committed']:,}",
                      f"{r['lag']:,}", f"{r['accepted']:,}", refused)  # fmt: skip
    console.print(table if rows else "No ingress topics and nothing routed yet.")


def register(app: typer.Typer) -> None:
    """Attach `tatawwu router`."""
    app.add_typer(router_app, name="router")
