"""`tatawwu trickle`: a few facts of the present a second, through the gateway, until Ctrl-C.

The trickle speaks for its own partner organisations (`live-<sector>-<n>`): it issues each
a gateway key in the configured database when it starts and revokes them when it stops,
so it needs the database the gateway checks keys against (the local stack's, in a demo).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import signal
import uuid
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from infra.settings import Settings, get_settings

if TYPE_CHECKING:
    from producers.gateway.keys import IssuedKey


def _err() -> Console:
    return Console(stderr=True, highlight=False)


async def _issue_keys(settings: Settings, orgs: list[str]) -> dict[str, IssuedKey]:
    from infra.db import connect
    from infra.migrations import apply
    from producers.gateway.partners import MIGRATIONS, add_partner_key

    conn = await connect(settings)
    try:
        await apply(conn, MIGRATIONS)
        return {org: await add_partner_key(conn, org) for org in orgs}
    finally:
        await conn.close()


async def _revoke_keys(settings: Settings, keys: dict[str, IssuedKey]) -> None:
    from infra.db import connect
    from producers.gateway.partners import revoke_partner_key

    conn = await connect(settings)
    try:
        for issued in keys.values():
            await revoke_partner_key(conn, issued.key_id)
    finally:
        await conn.close()


async def _trickle(settings: Settings, url: str, rate: float, on_site: int | None,
                   shift_minutes: float, seconds: float | None, seed: int) -> None:  # fmt: skip
    import httpx
    import structlog

    from producers.trickle import LiveWorld, run_trickle

    log = structlog.get_logger("tatawwu.trickle")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    shift = dt.timedelta(minutes=shift_minutes)
    world = LiveWorld(run=uuid.uuid4().hex[:8], seed=seed, shift=shift)
    # Enough people on site that check-outs keep pace: a fifth of the facts, a shift long.
    crowd = on_site if on_site is not None else int(rate / 5 * shift.total_seconds() * 1.1)
    keys = await _issue_keys(settings, world.org_ids)
    log.info("trickle_started", run=world.run, rate=rate, on_site=crowd, gateway=url,
             orgs=len(keys))  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
            secrets = {org: issued.key for org, issued in keys.items()}
            stats = await run_trickle(world, secrets, client, rate=rate, on_site=crowd,
                                      stop=stop, seconds=seconds)  # fmt: skip
    finally:
        with contextlib.suppress(Exception):  # the database may be going down with us
            await _revoke_keys(settings, keys)
    log.info("trickle_stopped", accepted=stats.accepted_total, requests=stats.requests,
             retries=stats.retries, unsent=stats.unsent, refused=dict(stats.refused), by_type=dict(stats.accepted))  # fmt: skip


def trickle(
    rate: Annotated[
        float, typer.Option(min=0.1, max=1000, help="Facts per second after the opening.")
    ] = 4.0,
    on_site: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Volunteers on site at the opening (default: enough for check-outs "
            "to keep pace: rate/5 x the shift).",
        ),
    ] = None,
    shift_minutes: Annotated[
        float, typer.Option(min=1, max=600, help="Shortest shift before a check-out.")
    ] = 45.0,
    seconds: Annotated[
        float | None, typer.Option(min=1, help="Stop after this long (default: Ctrl-C).")
    ] = None,
    gateway_url: Annotated[
        str | None, typer.Option(help="Gateway base URL (default from settings).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seeds the invented people with the run id.")] = 0,
) -> None:
    """Post a live trickle of registrations, sign-ups, check-ins, check-outs and verified
    hours through the partner gateway, as six partner organisations, until Ctrl-C.

    Logs `trickle_progress` every 10 s (accepted by type, refused, requests); a refused
    request is logged with the gateway's rules and the trickle goes on.
    """
    from infra.logging import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    url = gateway_url or settings.gateway_url
    url = url or f"http://{settings.gateway_host}:{settings.gateway_port}"
    _err().print(f"trickle: {rate:g} facts/s via {url}/v1/events  |  stop: Ctrl-C")
    try:
        asyncio.run(_trickle(settings, url, rate, on_site, shift_minutes, seconds, seed))
    except OSError as exc:
        _err().print(f"[bold red]error:[/] {exc} (is the database up? tatawwu infra up)")
        raise typer.Exit(code=1) from exc


def register(app: typer.Typer) -> None:
    """Attach `trickle` to the `tatawwu` app."""
    app.command("trickle")(trickle)
