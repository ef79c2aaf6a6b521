"""Local SMTP and SMS sinks: what the dev and test stack run in place of real providers.

The SMTP sink (`smtp_sink.py`, aiosmtpd) accepts every message and appends one JSON line
per message to `<dir>/smtp.jsonl`; the SMS sink (`sms_sink.py`, FastAPI) speaks a small
provider-like HTTP API, honours `Idempotency-Key`, can be told to fail, and appends one
JSON line per accepted message to `<dir>/sms.jsonl`. This module runs them: `Sinks` runs
both in the caller's event loop (tests, `tatawwu sinks run`); `python -m
infra.local.sinks` runs them as a process until SIGTERM or SIGINT. Logs carry ids and
counts only, never addresses, numbers or message text.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import ssl
import weakref
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
import uvicorn
from aiosmtpd.smtp import SMTP

from infra.local.sink_files import SMS_FILE, SMTP_FILE, purge_before, read_sms, read_smtp
from infra.local.sink_tls import self_signed, server_context
from infra.local.sink_webhooks import WebhookSender
from infra.local.sms_sink import SmsState, create_sms_app
from infra.local.smtp_sink import Credentials, SmtpSinkHandler, email_record

__all__ = [
    "SMS_FILE",
    "SMTP_FILE",
    "Sinks",
    "SmsState",
    "SmtpSinkHandler",
    "create_sms_app",
    "email_record",
    "main",
    "port_of",
    "read_sms",
    "read_smtp",
    "serve",
    "sink_webhooks",
]

log = structlog.get_logger(__name__)


def port_of(url: str, default: int) -> int:
    """The port in a settings URL (`smtp://127.0.0.1:2525`), or default when it has none."""
    return urlsplit(url).port or default


class _Server(uvicorn.Server):
    """uvicorn without its own signal handlers: the process (or the test) owns shutdown."""

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


class Sinks:
    """Both sinks served in the running event loop; port 0 picks a free port.

    `async with Sinks(tmp_path, smtp_port=0, sms_port=0) as sinks:` then send to
    `sinks.smtp_port` / `sinks.sms_url`, and read back with `read_smtp(tmp_path)`.
    """

    def __init__(self, directory: Path, *, host: str = "127.0.0.1", smtp_port: int = 2525,
                 sms_port: int = 8025, starttls: bool = False, smtps_port: int | None = None,
                 login: tuple[str, str] | None = None,
                 webhooks: WebhookSender | None = None) -> None:  # fmt: skip
        """`starttls`: offer STARTTLS; `smtps_port`: also listen with implicit TLS (0: a
        free port); `login`: accept AUTH with it (also in clear, to catch a client that
        sends it so: `credentials.attempts` says which). TLS uses a self-signed
        certificate written to `directory` (`tls_cert`, the CA file clients trust).
        `webhooks`: call the gateway back like a provider (receipts, bounces, replies;
        `sink_webhooks`); closed with the sinks."""
        self.directory, self.host = Path(directory), host
        self.smtp_port, self.sms_port, self.smtps_port = smtp_port, sms_port, smtps_port
        self.smtp_handler = SmtpSinkHandler(self.directory)
        self.smtp_handler.webhooks = self.webhooks = webhooks
        self.credentials = Credentials(*login) if login else None
        self.tls_cert: Path | None = None
        self._tls: ssl.SSLContext | None = None
        if starttls or smtps_port is not None:
            self.tls_cert, key = self_signed(self.directory)
            self._tls = server_context(self.tls_cert, key)
        self._starttls = starttls
        self._smtps_server: asyncio.Server | None = None
        self._smtp_server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.smtp_connections = 0  # SMTP connections accepted (a pooling client makes few)
        self.sms_app = create_sms_app(self.directory, webhooks)
        self._http: _Server | None = None
        self._http_task: asyncio.Task[None] | None = None
        self._sock: socket.socket | None = None

    @property
    def smtp_url(self) -> str:
        """`smtp://host:port`, the shape of `TATAWWU_SMTP_URL`."""
        return f"smtp://{self.host}:{self.smtp_port}"

    @property
    def sms_base_url(self) -> str:
        """The SMS sink's root (`/control/...`, `/stats`, `/health` hang off it)."""
        return f"http://{self.host}:{self.sms_port}"

    @property
    def sms_url(self) -> str:
        """`http://host:port/v1/messages`, the shape of `TATAWWU_SMS_URL`."""
        return f"{self.sms_base_url}/v1/messages"

    @property
    def email_api_url(self) -> str:
        """The mail service's API for erasing a kept email, the shape of
        `TATAWWU_EMAIL_API_URL` (served by the SMS sink's HTTP app)."""
        return f"{self.sms_base_url}/v1/emails"

    @property
    def sms_state(self) -> SmsState:
        """The SMS sink's counters and injected failures."""
        return self.sms_app.state.sms

    def _smtp_session(self, *, starttls: bool | None = None) -> SMTP:
        tls = self._tls if (self._starttls if starttls is None else starttls) else None
        session = SMTP(self.smtp_handler, enable_SMTPUTF8=True, hostname="tatawwu-smtp-sink",
                       ident="Tatawwu SMTP sink", loop=asyncio.get_running_loop(),
                       tls_context=tls, authenticator=self.credentials,
                       auth_require_tls=False)  # fmt: skip
        self._sessions.add(session)
        self.smtp_connections += 1
        return session

    @property
    def smtps_url(self) -> str:
        """`smtps://host:port` (implicit TLS), when the sink listens for it."""
        return f"smtps://{self.host}:{self.smtps_port}"

    async def start(self) -> Sinks:
        """Bind both ports and serve; return once both accept connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # aiosmtpd logs every SMTP command (addresses included) at INFO: keep them out.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        self._smtp_server = await loop.create_server(self._smtp_session, self.host, self.smtp_port)
        self.smtp_port = self._smtp_server.sockets[0].getsockname()[1]
        if self.smtps_port is not None:
            self._smtps_server = await loop.create_server(
                lambda: self._smtp_session(starttls=False), self.host, self.smtps_port,
                ssl=self._tls,
            )  # fmt: skip
            self.smtps_port = self._smtps_server.sockets[0].getsockname()[1]
        try:
            await self._start_http()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start_http(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, self.sms_port))
        self.sms_port = self._sock.getsockname()[1]
        config = uvicorn.Config(self.sms_app, log_config=None,
                                access_log=False, lifespan="off")  # fmt: skip
        self._http = _Server(config)
        self._http_task = asyncio.create_task(self._http.serve(sockets=[self._sock]))
        while not self._http.started:
            if self._http_task.done():
                msg = f"the SMS sink did not start on {self.sms_base_url}"
                raise RuntimeError(msg)
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        """Stop both sinks and close every open connection (idempotent)."""
        if self._http is not None and self._http_task is not None:
            self._http.should_exit = True
            await self._http_task
            self._http_task = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        servers = [s for s in (self._smtp_server, self._smtps_server) if s is not None]
        for server in servers:
            server.close()
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()
        for server in servers:
            await server.wait_closed()
        self._smtp_server = self._smtps_server = None
        if self.webhooks is not None:
            await self.webhooks.close()
            self.webhooks = self.smtp_handler.webhooks = self.sms_state.webhooks = None

    async def __aenter__(self) -> Sinks:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def purge_periodically(
    directory: Path, keep_days: float, interval_s: float, stop: asyncio.Event
) -> None:
    """Forget messages older than `keep_days` at start, then every `interval_s`, until `stop`."""
    while not stop.is_set():
        try:
            before = datetime.now(UTC) - timedelta(days=keep_days)
            if removed := {k: n for k, n in purge_before(directory, before).items() if n}:
                log.info("sinks_purged", keep_days=keep_days, **removed)
        except OSError as exc:
            log.warning("sinks_purge_failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


async def serve(directory: Path, *, host: str = "127.0.0.1", smtp_port: int = 2525,
                sms_port: int = 8025, starttls: bool = False,
                smtps_port: int | None = None, webhooks: WebhookSender | None = None,
                keep_days: float = 7.0, purge_interval_s: float = 3600.0) -> None:  # fmt: skip
    """Run both sinks until SIGTERM or SIGINT, then stop cleanly; what they received is
    kept `keep_days` (`TATAWWU_SINK_KEEP_DAYS`)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Sinks(directory, host=host, smtp_port=smtp_port, sms_port=sms_port,
                     starttls=starttls, smtps_port=smtps_port,
                     webhooks=webhooks) as sinks:  # fmt: skip
        log.info("sinks_started", host=host, smtp_port=sinks.smtp_port, sms_port=sinks.sms_port,
                 smtps_port=sinks.smtps_port, starttls=starttls,
                 ca_file=str(sinks.tls_cert) if sinks.tls_cert else None,
                 directory=str(directory), webhooks=webhooks is not None)  # fmt: skip
        await purge_periodically(directory, keep_days, purge_interval_s, stop)
    log.info(
        "sinks_stopped",
        emails=sinks.smtp_handler.received,
        email_repeats=sinks.smtp_handler.duplicates,
        **sinks.sms_state.stats(),
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m infra.local.sinks [--host] [--smtp-port] [--sms-port] [--dir] [--starttls]
    [--smtps-port]`."""
    from infra.logging import configure_logging
    from infra.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description="Run the local SMTP and SMS sinks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=port_of(settings.smtp_url, 2525))
    parser.add_argument("--sms-port", type=int, default=port_of(settings.sms_url, 8025))
    parser.add_argument("--dir", type=Path, default=settings.cache_dir / "sinks")
    parser.add_argument("--starttls", action="store_true", help="offer STARTTLS (self-signed)")
    parser.add_argument("--smtps-port", type=int, default=None, help="also implicit TLS here")
    parser.add_argument("--webhook-url", default=settings.sink_webhook_url,
                        help="the gateway's root: receipts, bounces and replies go there")  # fmt: skip
    for name, what in (("fail", "numbers whose SMS fail"), ("bounce", "addresses that bounce"),
                       ("complain", "addresses that complain")):  # fmt: skip
        parser.add_argument(f"--{name}", action="append", default=[], help=what)
    args = parser.parse_args(argv)
    configure_logging(settings.log_level, settings.log_format)
    webhooks = sink_webhooks(settings, args.webhook_url, args.fail, args.bounce, args.complain)
    asyncio.run(serve(args.dir, host=args.host, smtp_port=args.smtp_port, sms_port=args.sms_port,
                      starttls=args.starttls, smtps_port=args.smtps_port, webhooks=webhooks,
                      keep_days=settings.sink_keep_days,
                      purge_interval_s=settings.retention_interval_s))  # fmt: skip


def sink_webhooks(settings: Any, url: str, fail: Any = (), bounce: Any = (),
                  complain: Any = ()) -> WebhookSender | None:  # fmt: skip
    """The sinks' provider callbacks to the gateway at `url` (None when empty), failing,
    bouncing and complaining for the settings' lists and these."""
    if not url:
        return None
    webhooks = WebhookSender(url, settings.webhook_key())

    def listed(value: str) -> list[str]:
        return [part for part in (p.strip() for p in value.split(",")) if part]

    webhooks.outcomes.update(fail=[*listed(settings.sink_fail_numbers), *fail],
                             bounce=[*listed(settings.sink_bounce_addresses), *bounce],
                             complain=[*listed(settings.sink_complain_addresses), *complain])  # fmt: skip
    return webhooks


if __name__ == "__main__":
    main()
