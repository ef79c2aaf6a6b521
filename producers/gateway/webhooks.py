"""Provider webhooks: SMS replies, SMS delivery receipts, email bounces and complaints.

    POST /v1/webhooks/sms/inbound    {"message_id", "from", "body"}
    POST /v1/webhooks/sms/receipts   {"message_id", "status": delivered|failed, "reason"}
    POST /v1/webhooks/email/events   {"event_id", "type": delivered|bounce|complaint,
                                      "message_id", "recipient", "bounce_type", "reason"}

Every request must be signed by the provider (`webhook_auth`: 401 otherwise, replays
and stale timestamps included). A reply's keyword (`keywords`) acts through `replies`;
feedback lands in the notifier's `feedback` table (the notifier publishes it as
`notification.delivered`, `.bounced` or `.failed`: only its principal writes
`tatawwu.notifications`), and a permanent bounce marks the address undeliverable at
once. Any reply the gateway cannot act on (unknown words, unknown numbers, no pending
confirmation) is recorded and answered 200: the provider has nothing to retry. 503 when
PostgreSQL or Kafka is away: the provider retries, and the same message changes nothing
twice. Logs carry ids and outcomes, never numbers, addresses or texts.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar

import structlog
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import JSONResponse

from infra.problems import validation_errors
from producers.gateway import replies
from producers.gateway.emit import KafkaUnavailable, produce
from producers.gateway.keywords import parse_keyword
from producers.gateway.problems import Problem
from producers.gateway.webhook_auth import DB_ERRORS, signed_body

log = structlog.get_logger("producers.gateway")
router = APIRouter(prefix="/v1/webhooks", tags=["provider webhooks"])
E164 = r"^\+[1-9][0-9]{7,14}$"
ProviderId = Annotated[str, Field(min_length=1, max_length=200)]
M = TypeVar("M", bound=BaseModel)


class InboundSms(BaseModel):
    """A text a volunteer sent to the platform's number."""

    message_id: ProviderId
    sender: str = Field(alias="from", pattern=E164)
    body: str = Field(max_length=1600)


class SmsReceipt(BaseModel):
    """The provider's word on an SMS we sent (`message_id`: the id it gave us then)."""

    message_id: ProviderId
    status: Literal["delivered", "failed", "undelivered"]
    reason: str | None = Field(default=None, max_length=500)


class EmailEvent(BaseModel):
    """A delivery, bounce or complaint about an email we sent (`message_id`: its Message-ID)."""

    event_id: ProviderId
    type: Literal["delivered", "bounce", "complaint"]
    message_id: ProviderId
    recipient: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+$")
    bounce_type: Literal["permanent", "transient"] = "permanent"
    reason: str | None = Field(default=None, max_length=500)


def _parse(model: type[M], body: bytes) -> M:
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        if any(e.get("type") == "json_invalid" for e in exc.errors()):
            raise Problem(400, "malformed", None, "the body is not valid JSON") from None
        fields = ", ".join(sorted({str(e["loc"][0]) for e in exc.errors() if e.get("loc")}))
        raise Problem(422, "invalid_request", None, f"invalid field(s): {fields or '$'}",
                      errors=validation_errors(exc.errors())) from None  # fmt: skip


def _unavailable(what: str) -> Problem:
    return Problem(503, f"{what}_unavailable", None,
                   f"{what} unavailable; retrying the same message is safe", retry_after=5.0)  # fmt: skip


async def _publish(request: Request, events: list[Any]) -> None:
    if not events:
        return
    settings = request.app.state.settings
    try:
        await produce(request.app.state.producer, events, settings.gateway_produce_timeout_s)
    except KafkaUnavailable:
        raise _unavailable("kafka") from None


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """The endpoint's JSON body in OpenAPI (the handler reads it raw: it is signed)."""
    schema = model.model_json_schema(by_alias=True)
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}  # fmt: skip


@router.post("/sms/inbound", openapi_extra=_body(InboundSms))
async def sms_inbound(request: Request) -> JSONResponse:
    """A volunteer's SMS reply: STOP, START, YES, NO act; anything else is recorded."""
    message = _parse(InboundSms, await signed_body(request))
    state = request.app.state
    schema = state.settings.webhook_notifier_schema
    keyword = parse_keyword(message.body)
    try:
        async with state.pool.acquire() as conn:
            seen = await conn.fetchval(
                "select outcome from gateway_inbound_sms where provider_message_id = $1",
                message.message_id,
            )
            if seen is not None:
                return JSONResponse({"outcome": seen, "duplicate": True})
            plan = await replies.plan_reply(conn, schema, message.sender, keyword,
                                            message.message_id)  # fmt: skip
            await _publish(request, plan.events)
            async with conn.transaction():
                for statement, args in plan.after:
                    await conn.execute(statement, *args)
                await conn.execute(
                    "insert into gateway_inbound_sms (provider_message_id, keyword, volunteer_ids,"
                    " outcome, body) values ($1, $2, $3, $4, $5) on conflict do nothing",
                    message.message_id, keyword and str(keyword), plan.volunteer_ids,
                    plan.outcome, None if keyword else message.body,
                )  # fmt: skip
    except DB_ERRORS as exc:
        log.warning("webhook_database_error", error=type(exc).__name__)
        raise _unavailable("database") from None
    log.info("sms_reply", keyword=keyword and str(keyword), outcome=plan.outcome,
             volunteers=len(plan.volunteer_ids), events=len(plan.events))  # fmt: skip
    return JSONResponse({"outcome": plan.outcome, "keyword": keyword and str(keyword)})


async def _feedback(request: Request, row: tuple[object, ...], undeliverable: str | None) -> None:
    s = replies.quoted(request.app.state.settings.webhook_notifier_schema)
    try:
        async with request.app.state.pool.acquire() as conn, conn.transaction():
            if undeliverable is not None:
                await conn.execute(
                    f"insert into {s}.undeliverable (channel, address, reason) values"
                    " ('email', lower($1), $2) on conflict (channel, address) do nothing",
                    undeliverable, row[5] or "bounced",
                )  # fmt: skip
            await conn.execute(
                f"insert into {s}.feedback (feedback_id, provider_id, channel, outcome,"
                " permanent, reason) values ($1, $2, $3, $4, $5, $6) on conflict do nothing",
                *row,
            )
    except DB_ERRORS as exc:
        log.warning("webhook_database_error", error=type(exc).__name__)
        raise _unavailable("database") from None


@router.post("/sms/receipts", openapi_extra=_body(SmsReceipt))
async def sms_receipt(request: Request) -> JSONResponse:
    """A delivery receipt: delivered, or failed with the provider's reason."""
    receipt = _parse(SmsReceipt, await signed_body(request))
    outcome = "delivered" if receipt.status == "delivered" else "failed"
    row = (f"sms:{receipt.message_id}:{outcome}", receipt.message_id, "sms", outcome, True,
           receipt.reason)  # fmt: skip
    await _feedback(request, row, None)
    log.info("sms_receipt", outcome=outcome)
    return JSONResponse({"outcome": outcome})


@router.post("/email/events", openapi_extra=_body(EmailEvent))
async def email_event(request: Request) -> JSONResponse:
    """A delivery, a bounce (permanent: the address is marked undeliverable) or a complaint
    (email consent off, published as the platform's `volunteer.consent_changed`)."""
    event = _parse(EmailEvent, await signed_body(request))
    if event.type == "complaint":
        return await _complaint(request, event)
    outcome = "delivered" if event.type == "delivered" else "bounced"
    permanent = outcome == "bounced" and event.bounce_type == "permanent"
    row = (f"email:{event.event_id}", event.message_id, "email", outcome, permanent,
           event.reason)  # fmt: skip
    await _feedback(request, row, event.recipient if permanent else None)
    log.info("email_feedback", outcome=outcome, permanent=permanent)
    return JSONResponse({"outcome": outcome, "permanent": permanent})


async def _complaint(request: Request, event: EmailEvent) -> JSONResponse:
    state = request.app.state
    schema = state.settings.webhook_notifier_schema
    try:
        async with state.pool.acquire() as conn:
            volunteer_ids = await replies.volunteers_by(conn, schema, "email", event.recipient)
            events, _ = await replies.consent_change(
                conn, schema, volunteer_ids, "email", False, f"complaint-{event.event_id}"
            )
    except DB_ERRORS as exc:
        log.warning("webhook_database_error", error=type(exc).__name__)
        raise _unavailable("database") from None
    await _publish(request, events)
    log.info("email_complaint", volunteers=len(volunteer_ids))
    return JSONResponse({"outcome": "email_consent_off" if volunteer_ids else "unknown_recipient"})
