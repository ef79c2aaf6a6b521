"""`tatawwu partners add|list|revoke|status`: partner keys (HTTP) and direct Kafka access."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from infra.settings import Settings, get_settings

T = TypeVar("T")

partners_app = typer.Typer(
    help="Partners: keys for the HTTP gateway, and direct Kafka access (--kafka).",
    no_args_is_help=True,
)


def _err() -> Console:
    # Built per call so that CliRunner's captured stderr is the one written to.
    return Console(stderr=True, highlight=False)


def _fail(message: str, code: int = 1) -> typer.Exit:
    _err().print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=code)


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
    kafka: Annotated[
        bool,
        typer.Option(
            "--kafka",
            help="Direct Kafka access instead of a gateway key: a SCRAM principal "
            "partner-<org> that may write only to tatawwu.ingress.<org> (created too).",
        ),
    ] = False,
    partitions: Annotated[
        int, typer.Option(min=1, max=64, help="With --kafka: the ingress topic's partitions.")
    ] = 1,
    retention_days: Annotated[
        float | None,
        typer.Option(
            min=0.01,
            help="With --kafka: how long the ingress topic keeps records "
            "(default: TATAWWU_INGRESS_RETENTION_DAYS, 7).",
        ),
    ] = None,
) -> None:
    """Create a partner key (or, with --kafka, direct access) and print its secret once."""
    settings = get_settings()
    if kafka:
        if admin:
            raise _fail("--admin is for gateway keys; direct Kafka access is per organisation", 2)
        _add_kafka(settings, org_id, partitions, retention_days)
        return
    from producers.gateway.partners import add_partner_key

    issued = asyncio.run(
        _with_connection(settings, lambda conn: add_partner_key(conn, org_id, admin=admin))
    )
    typer.echo(issued.key)
    kind = "platform-admin key" if admin else f"key for {org_id}"
    _err().print(f"created {kind} {issued.key_id}; store it now, it cannot be shown again")


def _add_kafka(
    settings: Settings, org_id: str, partitions: int, retention_days: float | None
) -> None:
    from infra.principals import PrincipalError
    from tatawwu.partners import grant_direct_access

    try:
        access = grant_direct_access(
            settings, org_id, partitions=partitions, retention_days=retention_days
        )
    except PrincipalError as exc:
        raise _fail(str(exc)) from None
    typer.echo(access.password)
    _err().print(
        f"direct Kafka access for {org_id}: principal [bold]{access.principal}[/] "
        f"({access.mechanism}), may write only to [bold]{access.topic}[/]; "
        f"bootstrap {access.bootstrap}. The password above is shown once: store it now."
    )


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
def partners_revoke(
    key_id: Annotated[
        str | None, typer.Argument(help="The gateway key's id (or use --kafka ORG).")
    ] = None,
    kafka: Annotated[
        str | None,
        typer.Option("--kafka", metavar="ORG", help="Revoke ORG's direct Kafka access instead."),
    ] = None,
) -> None:
    """Revoke a gateway key (refused within seconds) or a partner's direct Kafka access."""
    if (key_id is None) == (kafka is None):
        raise _fail("give either a key id or --kafka ORG", 2)
    if kafka is not None:
        from infra.principals import PrincipalError
        from tatawwu.partners import revoke_direct_access

        try:
            acls, user = revoke_direct_access(get_settings(), kafka)
        except PrincipalError as exc:
            raise _fail(str(exc)) from None
        if not acls:
            raise _fail(f"{kafka} has no direct Kafka access")
        _err().print(
            f"revoked {kafka}'s direct Kafka access ({acls} ACLs deleted; "
            f"{'password replaced by one nobody knows' if user else 'no credentials'})"
        )
        return
    from producers.gateway.partners import UnknownKey, revoke_partner_key

    try:
        asyncio.run(_with_connection(get_settings(), lambda c: revoke_partner_key(c, key_id)))
    except UnknownKey as exc:
        raise _fail(str(exc)) from None
    _err().print(f"revoked {key_id}")


@partners_app.command("status")
def partners_status(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
    topic_prefix: Annotated[str, typer.Option(help="Topic prefix (tests).")] = "",
    show_all: Annotated[
        bool,
        typer.Option("--all", help="Also revoked partners whose ingress topic is gone."),
    ] = False,
) -> None:
    """Direct Kafka partners: access, ingress lag, records the router accepted and refused."""
    from tatawwu.partners import direct_partners

    rows = direct_partners(get_settings(), topic_prefix)
    if not show_all:  # a revoked partner stays a principal (no ACLs, unknown password)
        rows = [row for row in rows if row.can_write or row.topic_exists]
    if as_json:
        for row in rows:
            typer.echo(json.dumps(row.as_dict(), sort_keys=True))
        return
    if not rows:
        _err().print("no partner has direct Kafka access (tatawwu partners add ORG --kafka)")
        return
    table = Table("org_id", "access", "ingress topic", "written", "lag", "accepted", "refused")
    for row in rows:
        refused = ", ".join(f"{rule} {n}" for rule, n in sorted(row.refused.items())) or "0"
        table.add_row(
            row.org_id, "write" if row.can_write else "revoked",
            row.topic if row.topic_exists else f"{row.topic} (missing)",
            str(row.end_offset), str(row.lag), str(row.accepted), refused,
        )  # fmt: skip
    Console(width=160).print(table)


@partners_app.command("sample")
def partners_sample(
    org_id: Annotated[str, typer.Argument(help="The organisation publishing the sample.")],
    volunteers: Annotated[int, typer.Option(min=1, max=1000, help="Volunteers it registers.")] = 3,
) -> None:
    """Print a small legitimate world of ORG as JSON Lines (CloudEvents), to try publishing."""
    from tatawwu.partner_sample import sample_world

    for document in sample_world(org_id, volunteers):
        typer.echo(json.dumps(document, ensure_ascii=False))


def register(app: typer.Typer) -> None:
    """Attach `tatawwu partners ...` to the `tatawwu` app."""
    app.add_typer(partners_app, name="partners")
