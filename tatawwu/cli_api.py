"""`tatawwu api` (serve the read API and dashboard) and `tatawwu dashboard` (BI views, role)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from infra.settings import get_settings

console = Console(stderr=True, highlight=False)
api_app = typer.Typer(help="The read API and web dashboard (`tatawwu api` alone serves them).")
dashboard_app = typer.Typer(
    help="BI views (schema `dashboard`) and their read-only role.", no_args_is_help=True
)


Host = Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1).")]
Port = Annotated[int | None, typer.Option(help="Port (default 8080).")]
Workers = Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")]


@api_app.callback(invoke_without_command=True)
def api(ctx: typer.Context, host: Host = None, port: Port = None, workers: Workers = 1) -> None:
    """Serve the read API and dashboard on 127.0.0.1:8080 (or run a subcommand)."""
    if ctx.invoked_subcommand is None:
        serve(host, port, workers)


@api_app.command("serve")
def serve(host: Host = None, port: Port = None, workers: Workers = 1) -> None:
    """Serve the read API, its OpenAPI docs (/docs) and the dashboard page (/)."""
    import uvicorn

    from infra.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    host, port = host or settings.api_host, port or settings.api_port
    console.print(f"dashboard: http://{host}:{port}/   docs: http://{host}:{port}/docs")
    uvicorn.run(
        "consumers.api.main:app", host=host, port=port, workers=workers,
        log_level=settings.log_level.lower(), access_log=False,
    )  # fmt: skip


@api_app.command("token")
def token(
    org: Annotated[
        str | None,
        typer.Option(
            help="A token of this organisation's role (its own volunteers, minimal "
            "fields); without it, the admin role (whole profiles)."
        ),
    ] = None,
) -> None:
    """Make a bearer token that may read volunteers; settings keep only its SHA-256."""
    from consumers.api.auth import new_token

    secret, digest = new_token(org)
    console.print("give this token to the client (shown once):")
    typer.echo(secret)
    if org:
        console.print("append to TATAWWU_API_ORG_TOKEN_SHA256 (comma-separated):\n"
                      f"{org}={digest}")  # fmt: skip
    else:
        console.print(
            "append its digest to TATAWWU_API_VOLUNTEER_TOKEN_SHA256 (comma-separated):\n" + digest
        )


async def _views() -> list[str]:
    from consumers.api.dashboard_sql import create_dashboard_views
    from infra.db import connect

    settings = get_settings()
    conn = await connect(settings)
    try:
        return await create_dashboard_views(
            conn, dashboard=settings.api_dashboard_schema, k=settings.api_min_cell,
            role=settings.api_dashboard_role,
        )  # fmt: skip
    finally:
        await conn.close()


@dashboard_app.command("views")
def views() -> None:
    """(Re)create the BI views over the live read models (idempotent)."""
    created = asyncio.run(_views())
    console.print(f"created {len(created)} views: {', '.join(created) or 'none'}")


@dashboard_app.command("grant-readonly")
def grant_readonly(
    password: Annotated[
        str | None,
        typer.Option(envvar="TATAWWU_DASHBOARD_PASSWORD", help="Password for remote logins."),
    ] = None,
) -> None:
    """Create the LOGIN role that can SELECT from the dashboard views and nothing else."""
    from consumers.api.dashboard_sql import grant_readonly as grant
    from infra.db import connect

    settings = get_settings()

    async def work() -> list[str]:
        conn = await connect(settings)
        try:
            await grant(
                conn, role=settings.api_dashboard_role,
                dashboard=settings.api_dashboard_schema, password=password,
            )  # fmt: skip
        finally:
            await conn.close()
        return await _views()

    created = asyncio.run(work())
    console.print(
        f"role {settings.api_dashboard_role} can read {len(created)} views in schema "
        f"{settings.api_dashboard_schema} (and nothing else)"
    )


def register(app: typer.Typer) -> None:
    """Attach `api` and `dashboard` to the `tatawwu` app."""
    app.add_typer(api_app, name="api")
    app.add_typer(dashboard_app, name="dashboard")
