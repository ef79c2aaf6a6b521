"""`tatawwu volunteers ...`: personal data requests (erasure, subject access)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from infra.settings import get_settings

volunteers_app = typer.Typer(
    help="Volunteers' personal data: erasure, subject access.", no_args_is_help=True
)
console = Console()


@volunteers_app.command("erase")
def erase(
    volunteer_ids: Annotated[
        list[str] | None, typer.Argument(help="Volunteers to erase (their ids).")
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Also finish every erasure a crash or an outage left half done.")
    ] = False,
    topic_prefix: Annotated[
        str, typer.Option(help="Publish to '<prefix>tatawwu.volunteers' (tests).")
    ] = "",
) -> None:
    """Destroy each volunteer's data key and publish `volunteer.erased` (safe to repeat)."""
    from infra import erasure

    settings = get_settings()
    ids = list(volunteer_ids or [])
    if resume:
        ids += [v for v in asyncio.run(erasure.pending(settings)) if v not in ids]
    if not ids:
        console.print("nothing to erase")
        return
    try:
        states = asyncio.run(erasure.erase(settings, ids, topic_prefix))
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    for state in states:
        console.print(
            f"{state.volunteer_id}: key destroyed {state.key_destroyed_at:%Y-%m-%d %H:%M:%S}, "
            f"volunteer.erased published {state.published_at:%Y-%m-%d %H:%M:%S}"
        )


@volunteers_app.command("export")
def export(
    volunteer_id: Annotated[str, typer.Argument(help="The volunteer (their id).")],
    volunteers_schema: Annotated[
        str, typer.Option(help="The volunteers read model's schema.")
    ] = "volunteers",
    notifications_schema: Annotated[
        str, typer.Option(help="The notifier's schema (its ledger and contacts).")
    ] = "notifications",
    organizations_schema: Annotated[
        str, typer.Option(help="The organizations read model's schema (names, owners).")
    ] = "organizations",
    participation_schema: Annotated[
        str, typer.Option(help="The participation read model's schema (KPI attributes).")
    ] = "participation",
) -> None:
    """Print everything held about one volunteer as JSON (a subject-access request).

    Exit 1 when nothing at all is held about the id. An erased volunteer's export says
    so and holds no personal field.
    """
    import orjson

    from infra import subject_access

    try:
        places = subject_access.ReadModels(
            volunteers_schema, notifications_schema, organizations_schema, participation_schema
        )
    except ValueError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    try:
        document = asyncio.run(subject_access.export(get_settings(), volunteer_id, places))
    except subject_access.UnknownVolunteer as exc:
        Console(stderr=True).print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    # Straight to stdout, not through rich: the JSON must stay byte-exact for a pipe.
    typer.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())


def register(app: typer.Typer) -> None:
    """Attach `tatawwu volunteers`."""
    app.add_typer(volunteers_app, name="volunteers")
