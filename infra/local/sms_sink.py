"""The local SMS sink (FastAPI): a small provider-like HTTP API for tests and dev.

It honours `Idempotency-Key` (also across restarts; each dropped repeat is one line of
`sms-repeats.jsonl`), can be told to fail the next requests or to answer slowly (a slow
provider: the key is taken on arrival, the answer comes `delay_s` later), and keeps one
JSON line per accepted message. `POST /v1/messages/batch` takes up to 1,000 messages in
one request, as real SMS APIs do, and answers each on its own (`sms_batch.py`). Its problem `type`s are its own
(`urn:tatawwu:sms-sink:<status>`): it stands in for a third-party provider, not for our
API. Logs carry ids and counts only, never numbers or message text.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import FastAPI, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from infra.local.sink_files import (
    SMS_FILE,
    SMS_REPEATS_FILE,
    SMTP_FILE,
    append_record,
    forget_matching,
    now_iso,
    read_sms,
)
from infra.local.sink_webhooks import WebhookSender

log = structlog.get_logger("infra.local.sinks")

E164 = r"^\+[1-9][0-9]{7,14}$"
MAX_SMS_CHARS = 1600


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


class ReplyRequest(BaseModel):
    """`POST /control/reply`: a volunteer at `from` texts `body` (sent signed to the gateway)."""

    sender: str = Field(alias="from", pattern=E164)
    body: str = Field(min_length=1, max_length=MAX_SMS_CHARS)


class OutcomesRequest(BaseModel):
    """`POST /control/outcomes`: numbers whose SMS fail, addresses that bounce or complain."""

    fail: list[str] = Field(default_factory=list, max_length=10_000)
    bounce: list[str] = Field(default_factory=list, max_length=10_000)
    complain: list[str] = Field(default_factory=list, max_length=10_000)


class DelayRequest(BaseModel):
    """`POST /control/delay`: answer each accepted message `seconds` late (0: at once)."""

    seconds: float = Field(default=0.0, ge=0, le=600)


@dataclass
class SmsState:
    """The SMS sink's memory: idempotency keys seen, injected failures, counters."""

    directory: Path
    ids_by_key: dict[str, str] = field(default_factory=dict)
    fail_remaining: int = 0
    fail_status: int = 503
    delay_s: float = 0.0
    accepted: int = 0
    duplicates: int = 0
    failed: int = 0
    rejected: int = 0
    batches: int = 0
    webhooks: WebhookSender | None = None  # receipts and replies to the gateway, when set

    def __post_init__(self) -> None:
        # A restarted sink still knows the keys it accepted before (retries across restarts).
        for line in read_sms(self.directory):
            if line.get("idempotency_key"):
                self.ids_by_key[line["idempotency_key"]] = line["id"]

    def stats(self) -> dict[str, int]:
        """Counters since start, for `GET /stats`."""
        return {"accepted": self.accepted, "duplicates": self.duplicates, "failed": self.failed,
                "rejected": self.rejected, "batches": self.batches,
                "fail_pending": self.fail_remaining,
                "delay_ms": round(self.delay_s * 1000)}  # fmt: skip

    def take_failure(self) -> int | None:
        """The status an injected failure answers this message with, or None (no failure)."""
        if self.fail_remaining <= 0:
            return None
        self.fail_remaining -= 1
        self.failed += 1
        log.info("sms_failed_on_purpose", status=self.fail_status, remaining=self.fail_remaining)
        return self.fail_status

    def take_key(self, key: str | None, repeats: Path) -> str | None:
        """The id already given to this idempotency key (the repeat is logged), or None."""
        if not key or key not in self.ids_by_key:
            return None
        self.duplicates += 1
        sink_id = self.ids_by_key[key]
        append_record(repeats, {"received_at": now_iso(), "id": sink_id, "idempotency_key": key})
        log.info("sms_duplicate", id=sink_id)
        return sink_id

    def accept(self, message: SmsRequest, key: str | None) -> dict[str, Any]:
        """Count a new message and take its key; returns the line to store for it."""
        sink_id = f"sms-{uuid.uuid4().hex}"
        if key:
            self.ids_by_key[key] = sink_id
        self.accepted += 1
        if self.webhooks is not None:  # its receipt follows, as a provider's would
            self.webhooks.sms_accepted(sink_id, message.to)
        return {"received_at": now_iso(), "id": sink_id, "to": message.to, "body": message.body,
                "sender": message.sender, "idempotency_key": key}  # fmt: skip


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


def create_sms_app(directory: Path, webhooks: WebhookSender | None = None) -> FastAPI:
    """The SMS sink's HTTP app, recording into `<directory>/sms.jsonl`; with `webhooks`,
    it sends receipts and simulated replies to the gateway (`sink_webhooks`)."""
    app = FastAPI(title="Tatawwu SMS sink", docs_url="/docs", redoc_url=None)
    state = SmsState(Path(directory), webhooks=webhooks)
    app.state.sms = state
    path, repeats = Path(directory) / SMS_FILE, Path(directory) / SMS_REPEATS_FILE

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
        if (status := state.take_failure()) is not None:
            retry = {"Retry-After": "1"} if status in (429, 503) else None
            return _problem(status, "Injected failure",
                            "the sink was told to fail this request", headers=retry)  # fmt: skip
        if (sink_id := state.take_key(idempotency_key, repeats)) is not None:
            return JSONResponse({"id": sink_id, "status": "duplicate"}, 200)
        record = state.accept(message, idempotency_key)
        append_record(path, record)
        log.info("sms_accepted", id=record["id"], chars=len(message.body))
        if state.delay_s:  # after the key is taken: a repeat meanwhile is a duplicate
            await asyncio.sleep(state.delay_s)
        return JSONResponse({"id": record["id"], "status": "accepted"}, 202)

    from infra.local.sms_batch import add_batch_route  # it builds on this module's models

    add_batch_route(app, state, path, repeats)

    @app.get("/v1/messages")
    async def messages() -> list[dict[str, Any]]:
        return read_sms(directory)

    # What a provider keeps of a message, deleted at the sender's request (an erased
    # volunteer): an SMS by the id the sink answered, an email by its Message-ID (the
    # mail service's API beside its relay). 404: nothing kept under that id.
    @app.delete("/v1/messages/{message_id}")
    async def forget_sms(message_id: str) -> JSONResponse:
        return _forget(path, "id", message_id, "sms_forgotten")

    @app.delete("/v1/emails/{message_id}")
    async def forget_email(message_id: str) -> JSONResponse:
        return _forget(Path(directory) / SMTP_FILE, "message_id", message_id, "email_forgotten")

    def _forget(kept: Path, field: str, value: str, event: str) -> JSONResponse:
        if (status := state.take_failure()) is not None:
            return _problem(status, "Injected failure",
                            "the sink was told to fail this request")  # fmt: skip
        removed = forget_matching(kept, field, value)
        log.info(event, removed=removed)
        if not removed:
            return _problem(404, "Not found", "no message is kept under this id")
        return JSONResponse({"removed": removed}, 200)

    @app.post("/control/fail")
    async def fail(request: FailRequest) -> dict[str, int]:
        state.fail_remaining, state.fail_status = request.count, request.status
        return {"count": request.count, "status": request.status}

    @app.post("/control/delay")
    async def delay(request: DelayRequest) -> dict[str, float]:
        state.delay_s = request.seconds
        return {"seconds": request.seconds}

    @app.post("/control/reply")
    async def reply(request: ReplyRequest) -> JSONResponse:
        if state.webhooks is None:
            return _problem(409, "No webhook URL", "the sink was started without one "
                            "(--webhook-url, TATAWWU_SINK_WEBHOOK_URL)")  # fmt: skip
        answer = await state.webhooks.reply(request.sender, request.body)
        log.info("sms_reply_sent", status=answer.status_code)
        try:
            document = answer.json()
        except ValueError:
            document = {"text": answer.text[:500]}
        return JSONResponse({"gateway_status": answer.status_code, "gateway": document})

    @app.post("/control/outcomes")
    async def outcomes(request: OutcomesRequest) -> dict[str, int]:
        if state.webhooks is None:
            return {"fail": 0, "bounce": 0, "complain": 0}
        state.webhooks.outcomes.update(fail=request.fail, bounce=request.bounce,
                                       complain=request.complain)  # fmt: skip
        return state.webhooks.outcomes.counts()

    @app.post("/control/reset")
    async def reset() -> dict[str, int]:
        state.fail_remaining, state.delay_s = 0, 0.0
        if state.webhooks is not None:
            state.webhooks.outcomes.clear()
        return {"count": 0}

    @app.get("/stats")
    async def stats() -> dict[str, int]:
        return state.stats()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
