"""`tatawwu sinks`: run the local SMTP and SMS sinks, and show what they received (masked)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from infra.settings import get_settings

console = Console(stderr=True, highlight=False)
sinks_app = typer.Typer(
    help="Local SMTP and SMS sinks: the dev and test stand-ins for the real providers.",
    no_args_is_help=True,
)

Dir = Annotated[
    Path | None,
    typer.Option("--dir", help="Where the sinks write smtp.jsonl and sms.jsonl "
                 "(default: <cache_dir>/sinks)."),
]  # fmt: skip


def mask_phone(number: str | None) -> str:
    """`+97455551234` -> `+974****1234`: the first three digits and the last four only."""
    if not number:
        return ""
    digits = "".join(c for c in number if c.isdigit())
    if len(digits) < 8:
        return "****"
    return f"+{digits[:3]}****{digits[-4:]}"


def mask_email(address: str | None) -> str:
    """`aisha@example.org` -> `a***@example.org`: first letter and domain only."""
    if not address:
        return ""
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        return "***"
    return f"{local[0]}***@{domain}"


def _directory(directory: Path | None) -> Path:
    return directory or get_settings().cache_dir / "sinks"


@sinks_app.command("run")
def run(
    smtp_port: Annotated[
        int | None, typer.Option(help="SMTP port (default: the port of TATAWWU_SMTP_URL, 2525).")
    ] = None,
    sms_port: Annotated[
        int | None, typer.Option(help="SMS HTTP port (default: the port of TATAWWU_SMS_URL, 8025).")
    ] = None,
    host: Annotated[str, typer.Option(help="Bind address.")] = "127.0.0.1",
    directory: Dir = None,
    starttls: Annotated[
        bool, typer.Option(help="Offer STARTTLS (a self-signed certificate in the sinks' dir).")
    ] = False,
    smtps_port: Annotated[
        int | None, typer.Option(help="Also accept implicit TLS (smtps://) on this port.")
    ] = None,
    webhook_url: Annotated[
        str | None,
        typer.Option(
            help="The gateway's root, where receipts, bounces, complaints and "
            "replies go, signed like a provider (default: TATAWWU_SINK_WEBHOOK_URL, "
            "else the local gateway; '' for none)."
        ),
    ] = None,
    fail: Annotated[
        list[str] | None, typer.Option(help="A number whose SMS fail (repeat).")
    ] = None,
    bounce: Annotated[
        list[str] | None, typer.Option(help="An address whose emails bounce (repeat).")
    ] = None,
    complain: Annotated[
        list[str] | None, typer.Option(help="An address that complains (repeat).")
    ] = None,
) -> None:
    """Run both sinks in the foreground until Ctrl-C (or SIGTERM)."""
    from infra.local.sinks import port_of, serve, sink_webhooks
    from infra.logging import configure_logging

    settings = get_settings()
    if webhook_url is None:
        webhook_url = settings.sink_webhook_url or gateway_root(settings)
    webhooks = sink_webhooks(settings, webhook_url, fail or (), bounce or (), complain or ())
    configure_logging(settings.log_level, settings.log_format)
    smtp_port = port_of(settings.smtp_url, 2525) if smtp_port is None else smtp_port
    sms_port = port_of(settings.sms_url, 8025) if sms_port is None else sms_port
    where = _directory(directory)
    console.print(f"SMTP sink  smtp://{host}:{smtp_port}")
    console.print(f"SMS sink   http://{host}:{sms_port}/v1/messages  (batch: /v1/messages/batch; "
                  "control: /control/fail, /control/reset; counters: /stats)")  # fmt: skip
    if starttls or smtps_port is not None:
        console.print(f"TLS        STARTTLS {'on' if starttls else 'off'}"
                      + (f", smtps://{host}:{smtps_port}" if smtps_port is not None else "")
                      + f"; TATAWWU_SMTP_CA_FILE={where}/sink-cert.pem")  # fmt: skip
    console.print(f"webhooks   {webhook_url or 'off'}  (receipts, bounces, replies: "
                  "`tatawwu sinks reply`, `tatawwu sinks outcomes`)")  # fmt: skip
    console.print(f"records    {where}/smtp.jsonl, {where}/sms.jsonl   |   stop: Ctrl-C")
    try:
        asyncio.run(serve(where, host=host, smtp_port=smtp_port, sms_port=sms_port,
                          starttls=starttls, smtps_port=smtps_port, webhooks=webhooks,
                          keep_days=settings.sink_keep_days,
                          purge_interval_s=settings.retention_interval_s))  # fmt: skip
    except OSError as exc:  # most often: the port is taken (sinks already running?)
        console.print(
            f"[bold red]error:[/] {exc} (sinks already running? see `tatawwu sinks show`)"
        )
        raise typer.Exit(code=1) from exc


def gateway_root(settings: Any) -> str:
    """The gateway's root URL (`TATAWWU_GATEWAY_URL`, else its host and port)."""
    return settings.gateway_url or f"http://{settings.gateway_host}:{settings.gateway_port}"


def _when(record: dict[str, Any]) -> str:
    return str(record.get("received_at", ""))[:19].replace("T", " ")


def _cut(text: str | None, width: int = 50) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


@sinks_app.command("show")
def show(
    last: Annotated[int, typer.Option(min=1, help="How many of the latest of each to show.")] = 20,
    directory: Dir = None,
) -> None:
    """Show the latest emails and SMS the sinks received, recipients masked.

    SMS bodies are not shown (they greet people by name); only their length is.
    """
    from infra.local.sinks import read_sms, read_smtp

    where = _directory(directory)
    emails, texts = read_smtp(where), read_sms(where)
    out = Console()
    table = Table("received (UTC)", "to", "subject", "lang", "idempotency key",
                  title=f"emails: {len(emails)} received, last {min(last, len(emails))}")  # fmt: skip
    for rec in emails[-last:]:
        headers = rec.get("headers") or {}
        table.add_row(_when(rec), ", ".join(mask_email(r) for r in rec.get("rcpt_tos") or []),
                      _cut(rec.get("subject")), headers.get("content-language", ""),
                      headers.get("x-idempotency-key", ""))  # fmt: skip
    out.print(table)
    table = Table("received (UTC)", "to", "sender", "chars", "idempotency key", "sink id",
                  title=f"SMS: {len(texts)} accepted, last {min(last, len(texts))}")  # fmt: skip
    for rec in texts[-last:]:
        table.add_row(_when(rec), mask_phone(rec.get("to")), rec.get("sender") or "",
                      str(len(rec.get("body") or "")), rec.get("idempotency_key") or "",
                      rec.get("id", ""))  # fmt: skip
    out.print(table)
    if not emails and not texts:
        console.print(f"nothing in {where} yet (is `tatawwu sinks run` running?)")


SinkUrl = Annotated[
    str | None,
    typer.Option("--sms-sink", help="The running SMS sink's root (default: from TATAWWU_SMS_URL)."),
]


def _control(path: str, document: dict[str, Any], sink: str | None) -> dict[str, Any]:
    import httpx

    root = sink or get_settings().sms_url.removesuffix("/v1/messages")
    try:
        response = httpx.post(root.rstrip("/") + path, json=document, timeout=15)
    except httpx.HTTPError as exc:
        console.print(f"[bold red]error:[/] the SMS sink at {root} did not answer "
                      f"({type(exc).__name__}); is `tatawwu sinks run` running?")  # fmt: skip
        raise typer.Exit(code=1) from exc
    if response.status_code >= 300:
        console.print(f"[bold red]error:[/] the sink answered {response.status_code}: "
                      f"{response.text[:300]}")  # fmt: skip
        raise typer.Exit(code=1)
    return dict(response.json())


@sinks_app.command("purge")
def purge(
    directory: Dir = None,
    older_than_days: Annotated[
        float | None,
        typer.Option(
            min=0, help="Forget messages received longer ago (default: TATAWWU_SINK_KEEP_DAYS, 7)."
        ),
    ] = None,
) -> None:
    """Forget what the sinks received before the retention (the running sinks do this every
    TATAWWU_RETENTION_INTERVAL_S; safe while they run: they wait, nothing is lost)."""
    from datetime import UTC, datetime, timedelta

    from infra.local.sink_files import purge_before

    days = get_settings().sink_keep_days if older_than_days is None else older_than_days
    removed = purge_before(_directory(directory), datetime.now(UTC) - timedelta(days=days))
    console.print(f"purged {sum(removed.values()):,} record(s) older than {days:g} days "
                  f"({', '.join(f'{k}: {n}' for k, n in removed.items()) or 'no files'})")  # fmt: skip


@sinks_app.command("reply")
def reply(
    number: Annotated[str, typer.Argument(help="The volunteer's number, E.164 (+974...).")],
    text: Annotated[str, typer.Argument(help="What they text: STOP, START, YES, NO, ...")],
    sms_sink: SinkUrl = None,
) -> None:
    """Simulate a volunteer texting the platform: the sink sends it to the gateway, signed."""
    answer = _control("/control/reply", {"from": number, "body": text}, sms_sink)
    gateway = answer.get("gateway") or {}
    console.print(f"gateway answered {answer.get('gateway_status')}: "
                  f"{gateway.get('outcome') or gateway.get('detail') or gateway}")  # fmt: skip
    if answer.get("gateway_status", 500) >= 300:
        raise typer.Exit(code=1)


@sinks_app.command("outcomes")
def outcomes(
    fail: Annotated[
        list[str] | None, typer.Option(help="A number whose SMS fail (repeat).")
    ] = None,
    bounce: Annotated[
        list[str] | None, typer.Option(help="An address whose emails bounce (repeat).")
    ] = None,
    complain: Annotated[
        list[str] | None, typer.Option(help="An address that complains (repeat).")
    ] = None,
    sms_sink: SinkUrl = None,
) -> None:
    """Tell the running sinks to fail, bounce or complain for these numbers and addresses."""
    document = {"fail": fail or [], "bounce": bounce or [], "complain": complain or []}
    counts = _control("/control/outcomes", document, sms_sink)
    console.print(f"now failing {counts['fail']} numbers, bouncing {counts['bounce']} and "
                  f"complaining for {counts['complain']} addresses")  # fmt: skip


def register(app: typer.Typer) -> None:
    """Attach `sinks` to the `tatawwu` app."""
    app.add_typer(sinks_app, name="sinks")
