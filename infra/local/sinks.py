"""Local SMTP and SMS sinks: what the dev and test stack run in place of real providers.

The SMTP sink (aiosmtpd) accepts every message and appends one JSON line per message to
`<dir>/smtp.jsonl`; the SMS sink (FastAPI) speaks a small provider-like HTTP API, honours
`Idempotency-Key`, can be told to fail, and appends one JSON line per accepted message to
`<dir>/sms.jsonl`. `Sinks` runs both in the caller's event loop (tests, `tatawwu sinks
run`); `python -m infra.local.sinks` runs them as a process until SIGTERM or SIGINT.
Logs carry ids and counts only, never addresses, numbers or message text.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import logging
import signal
import socket
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
import structlog
import uvicorn
from aiosmtpd.smtp import SMTP, Envelope, Session
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

log = structlog.get_logger(__name__)

SMTP_FILE = "smtp.jsonl"
SMS_FILE = "sms.jsonl"
E164 = r"^\+[1-9][0-9]{7,14}$"
MAX_SMS_CHARS = 1600
# Headers worth asserting on; everything else stays in the raw message we do not keep.
KEPT_HEADERS = ("from", "to", "cc", "reply-to", "date", "content-language",
                "x-idempotency-key", "x-correlation-id", "auto-submitted", "list-unsubscribe")  # fmt: skip


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _append(path: Path, record: dict[str, Any]) -> None:
    # One write of one line: a reader never sees half a record from a live sink.
    with path.open("ab") as out:
        out.write(orjson.dumps(record) + b"\n")


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")[:-1]  # drops "" after the last newline, or a torn last line
    return [orjson.loads(line) for line in lines if line.strip()]


def read_smtp(directory: Path) -> list[dict[str, Any]]:
    """Every email the SMTP sink stored in directory, oldest first."""
    return _read(Path(directory) / SMTP_FILE)


def read_sms(directory: Path) -> list[dict[str, Any]]:
    """Every SMS the SMS sink accepted in directory, oldest first (duplicates not repeated)."""
    return _read(Path(directory) / SMS_FILE)


def port_of(url: str, default: int) -> int:
    """The port in a settings URL (`smtp://127.0.0.1:2525`), or default when it has none."""
    return urlsplit(url).port or default


# --- SMTP ---------------------------------------------------------------------------


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    content = part.get_content()
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def _header(message: EmailMessage, name: str) -> str | None:
    value = message[name]  # policy.default decodes RFC 2047 words
    return None if value is None else str(value)


def email_record(envelope: Envelope) -> dict[str, Any]:
    """The JSON line stored for one received message (headers and parts decoded)."""
    raw = envelope.original_content or envelope.content or b""
    raw = raw if isinstance(raw, bytes) else raw.encode()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)  # policy.default builds EmailMessage
    record: dict[str, Any] = {
        "received_at": _now(),
        "id": f"eml-{uuid.uuid4().hex}",
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "message_id": None,
        "subject": None,
        "text": None,
        "html": None,
        "headers": {},
        "smtputf8": bool(envelope.smtp_utf8),
        "size": len(raw),
    }
    try:
        record["message_id"] = _header(message, "message-id")
        record["subject"] = _header(message, "subject")
        record["headers"] = {h: str(message[h]) for h in KEPT_HEADERS if message[h] is not None}
        record["text"] = _part_text(message, "plain")
        record["html"] = _part_text(message, "html")
    except (LookupError, ValueError, UnicodeError) as exc:  # keep the message, say why
        record["parse_error"] = f"{type(exc).__name__}: {exc}"
    return record


class SmtpSinkHandler:
    """aiosmtpd handler: accept every message, store it as one line of `smtp.jsonl`."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / SMTP_FILE
        self.received = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message and answer 250."""
        record = email_record(envelope)
        _append(self.path, record)
        self.received += 1
        log.info("email_received", id=record["id"], recipients=len(record["rcpt_tos"]),
                 size=record["size"], parse_error="parse_error" in record)  # fmt: skip
        return "250 Message accepted for delivery"


# --- SMS ----------------------------------------------------------------------------


class SmsRequest(BaseModel):
    """What a caller sends to `POST /v1/messages`."""

    to: str = Field(pattern=E164, description="E.164 number, e.g. +97455551234")
    body: str = Field(min_length=1, max_length=MAX_SMS_CHARS)
    sender: str | None = Field(default=None, max_length=64)

    @field_validator("body")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            msg = "body must not be blank"
            raise ValueError(msg)
        return value


class FailRequest(BaseModel):
    """`POST /control/fail`: make the next `count` message requests answer `status`."""

    count: int = Field(default=1, ge=1, le=100_000)
    status: int = Field(default=503, ge=400, le=599)


@dataclass
class SmsState:
    """The SMS sink's memory: idempotency keys seen, injected failures, counters."""

    directory: Path
    ids_by_key: dict[str, str] = field(default_factory=dict)
    fail_remaining: int = 0
    fail_status: int = 503
    accepted: int = 0
    duplicates: int = 0
    failed: int = 0
    rejected: int = 0

    def __post_init__(self) -> None:
        # A restarted sink still knows the keys it accepted before (retries across restarts).
        for line in read_sms(self.directory):
            if line.get("idempotency_key"):
                self.ids_by_key[line["idempotency_key"]] = line["id"]

    def stats(self) -> dict[str, int]:
        """Counters since start, for `GET /stats`."""
        return {"accepted": self.accepted, "duplicates": self.duplicates, "failed": self.failed,
                "rejected": self.rejected, "fail_pending": self.fail_remaining}  # fmt: skip


def _problem(status: int, title: str, detail: str, errors: list[dict[str, str]] | None = None,
             headers: dict[str, str] | None = None) -> JSONResponse:  # fmt: skip
    body: dict[str, Any] = {"type": f"urn:tatawwu:sms-sink:{status}", "title": title,
                            "status": status, "detail": detail}  # fmt: skip
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status, headers, media_type="application/problem+json")


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc[1:]] if loc and loc[0] == "body" else [str(p) for p in loc]
    return ".".join(parts) or "$"


def create_sms_app(directory: Path) -> FastAPI:
    """The SMS sink's HTTP app, recording into `<directory>/sms.jsonl`."""
    app = FastAPI(title="Tatawwu SMS sink", docs_url="/docs", redoc_url=None)
    state = SmsState(Path(directory))
    app.state.sms = state
    path = Path(directory) / SMS_FILE

    async def on_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [{"field": "$" if e.get("type") == "json_invalid" else _field(e.get("loc", ())),
                   "rule": e.get("type", ""), "message": e.get("msg", "")}
                  for e in exc.errors()]  # fmt: skip
        if request.url.path == "/v1/messages":
            state.rejected += 1
        log.info("sms_rejected", fields=sorted({e["field"] for e in errors}))
        names = ", ".join(sorted({e["field"] for e in errors}))
        return _problem(422, "Invalid request", f"invalid field(s): {names}", errors)

    app.add_exception_handler(RequestValidationError, on_invalid)

    # Handlers are `async def` on purpose: no await between the key check and the append,
    # so two concurrent requests with one key cannot both be recorded.
    @app.post("/v1/messages", status_code=202)
    async def send(
        message: SmsRequest,
        idempotency_key: Annotated[str | None, Header(max_length=255)] = None,
    ) -> JSONResponse:
        if state.fail_remaining > 0:
            state.fail_remaining -= 1
            state.failed += 1
            log.info("sms_failed_on_purpose", status=state.fail_status,
                     remaining=state.fail_remaining)  # fmt: skip
            retry = {"Retry-After": "1"} if state.fail_status in (429, 503) else None
            return _problem(state.fail_status, "Injected failure",
                            "the sink was told to fail this request", headers=retry)  # fmt: skip
        if idempotency_key and idempotency_key in state.ids_by_key:
            state.duplicates += 1
            sink_id = state.ids_by_key[idempotency_key]
            log.info("sms_duplicate", id=sink_id)
            return JSONResponse({"id": sink_id, "status": "duplicate"}, 200)
        sink_id = f"sms-{uuid.uuid4().hex}"
        _append(path, {"received_at": _now(), "id": sink_id, "to": message.to,
                       "body": message.body, "sender": message.sender,
                       "idempotency_key": idempotency_key})  # fmt: skip
        if idempotency_key:
            state.ids_by_key[idempotency_key] = sink_id
        state.accepted += 1
        log.info("sms_accepted", id=sink_id, chars=len(message.body))
        return JSONResponse({"id": sink_id, "status": "accepted"}, 202)

    @app.get("/v1/messages")
    async def messages() -> list[dict[str, Any]]:
        return read_sms(directory)

    @app.post("/control/fail")
    async def fail(request: FailRequest) -> dict[str, int]:
        state.fail_remaining, state.fail_status = request.count, request.status
        return {"count": request.count, "status": request.status}

    @app.post("/control/reset")
    async def reset() -> dict[str, int]:
        state.fail_remaining = 0
        return {"count": 0}

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return state.stats()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app


# --- running both -------------------------------------------------------------------


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
                 sms_port: int = 8025) -> None:  # fmt: skip
        self.directory, self.host = Path(directory), host
        self.smtp_port, self.sms_port = smtp_port, sms_port
        self.smtp_handler = SmtpSinkHandler(self.directory)
        self._smtp_server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()
        self.sms_app = create_sms_app(self.directory)
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
    def sms_state(self) -> SmsState:
        """The SMS sink's counters and injected failures."""
        return self.sms_app.state.sms

    def _smtp_session(self) -> SMTP:
        session = SMTP(self.smtp_handler, enable_SMTPUTF8=True, hostname="tatawwu-smtp-sink",
                       ident="Tatawwu SMTP sink", loop=asyncio.get_running_loop())  # fmt: skip
        self._sessions.add(session)
        return session

    async def start(self) -> Sinks:
        """Bind both ports and serve; return once both accept connections."""
        self.directory.mkdir(parents=True, exist_ok=True)
        # aiosmtpd logs every SMTP command (addresses included) at INFO: keep them out.
        logging.getLogger("mail.log").setLevel(logging.WARNING)
        loop = asyncio.get_running_loop()
        self._smtp_server = await loop.create_server(self._smtp_session, self.host, self.smtp_port)
        self.smtp_port = self._smtp_server.sockets[0].getsockname()[1]
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
        if self._smtp_server is not None:
            self._smtp_server.close()
            for session in self._sessions:
                if session.transport is not None:
                    session.transport.close()
            await self._smtp_server.wait_closed()
            self._smtp_server = None

    async def __aenter__(self) -> Sinks:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(directory: Path, *, host: str = "127.0.0.1", smtp_port: int = 2525,
                sms_port: int = 8025) -> None:  # fmt: skip
    """Run both sinks until SIGTERM or SIGINT, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with Sinks(directory, host=host, smtp_port=smtp_port, sms_port=sms_port) as sinks:
        log.info("sinks_started", host=host, smtp_port=sinks.smtp_port, sms_port=sinks.sms_port,
                 directory=str(directory))  # fmt: skip
        await stop.wait()
    log.info("sinks_stopped", emails=sinks.smtp_handler.received, **sinks.sms_state.stats())


def main(argv: list[str] | None = None) -> None:
    """`python -m infra.local.sinks [--host] [--smtp-port] [--sms-port] [--dir]`."""
    from infra.logging import configure_logging
    from infra.settings import get_settings

    settings = get_settings()
    parser = argparse.ArgumentParser(description="Run the local SMTP and SMS sinks.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=port_of(settings.smtp_url, 2525))
    parser.add_argument("--sms-port", type=int, default=port_of(settings.sms_url, 8025))
    parser.add_argument("--dir", type=Path, default=settings.cache_dir / "sinks")
    args = parser.parse_args(argv)
    configure_logging(settings.log_level, settings.log_format)
    asyncio.run(serve(args.dir, host=args.host, smtp_port=args.smtp_port, sms_port=args.sms_port))


if __name__ == "__main__":
    main()
