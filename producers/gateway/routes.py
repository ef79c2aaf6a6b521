"""The gateway's endpoints: `POST /v1/events`, `/health`, `/metrics`."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections import Counter
from typing import Any

import asyncpg
import orjson
import structlog
from fastapi import APIRouter, Request
from starlette.responses import Response
from structlog.contextvars import bind_contextvars

from infra.sealing import VolunteerErased, seal_events
from producers.gateway.emit import KafkaUnavailable, RecordTooLarge, produce
from producers.gateway.ingest import (
    check_media_type,
    is_binary_mode,
    parse_binary_event,
    parse_events,
    read_body,
)
from producers.gateway.keys import Principal
from producers.gateway.problems import Problem
from schemas.envelope import Event

log = structlog.get_logger("producers.gateway")
router = APIRouter()

DB_TIMEOUT_S = 3.0
HEALTH_TIMEOUT_S = 2.0
# PostgreSQL trouble surfaces as any of these; all mean "retry later", never a 500.
DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


def _unavailable(what: str, detail: str, retry_after: float = 5.0) -> Problem:
    return Problem(503, f"{what}_unavailable", "Service unavailable", detail,
                   retry_after=retry_after)  # fmt: skip


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "Unauthorized", detail)


async def authenticate(request: Request) -> Principal:
    """The caller behind the bearer key, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise _unauthorized("send your partner key as 'Authorization: Bearer tw_...'")
    try:
        principal = await asyncio.wait_for(
            request.app.state.verifier.verify(key.strip()), DB_TIMEOUT_S
        )
    except DB_ERRORS:
        raise _unavailable("database", "partner keys cannot be checked right now") from None
    if principal is None:
        raise _unauthorized("the partner key is unknown or revoked")
    bind_contextvars(key_id=principal.key_id, org=principal.org_id)
    return principal


async def authorise(request: Request, principal: Principal, events: list[Event[Any]]) -> None:
    """403 (422 for times out of bounds) unless the caller may emit every event."""
    admission = request.app.state.admission
    try:
        refused = await admission.admit_request(principal, events, dt.datetime.now(dt.UTC))
    except DB_ERRORS:
        raise _unavailable("database", "ownership cannot be checked right now") from None
    if refused:
        request.app.state.metrics.refusals_by_rule(refused)
        status = 422 if all(r.status == 422 for r in refused) else 403
        detail = f"{len(refused)} of {len(events)} events may not be emitted with this key"
        slug, title = (
            ("forbidden", "Forbidden") if status == 403 else ("invalid_time", "Invalid event time")
        )
        raise Problem(status, slug, title, detail, errors=[r.as_dict() for r in refused])


async def seal(request: Request, events: list[Event[Any]]) -> list[Event[Any]]:
    """The events with their personal fields encrypted (nothing personal enters in clear)."""
    keys = request.app.state.keys
    if keys is None:  # encryption off: a benchmark's baseline only
        return events
    try:
        return await seal_events(keys, events)
    except VolunteerErased as exc:
        raise Problem(409, "volunteer_erased", "Volunteer erased", str(exc)) from None
    except DB_ERRORS:
        raise _unavailable("database", "personal data cannot be encrypted right now") from None


@router.post("/v1/events", status_code=202)
async def post_events(request: Request) -> Response:
    """Accept one CloudEvent (structured or binary mode) or a batch; 202 only once Kafka
    acknowledged every record."""
    state = request.app.state
    settings = state.settings
    principal = await authenticate(request)
    wait = state.limiter.take(principal.key_id)
    if wait > 0:
        detail = f"more than {settings.gateway_rate_per_s:g} requests/s for this key; slow down"
        raise Problem(429, "rate_limited", "Too many requests", detail, retry_after=wait)
    check_media_type(request.headers.get("content-type"))
    try:
        async with asyncio.timeout(settings.gateway_request_timeout_s):
            body = await read_body(request, settings.gateway_max_body_bytes)
    except TimeoutError:
        detail = f"the body did not arrive within {settings.gateway_request_timeout_s:g}s"
        raise Problem(408, "request_timeout", "Request timeout", detail) from None
    if is_binary_mode(request.headers):
        events = parse_binary_event(request.headers, body)
    else:
        events = parse_events(body, settings.gateway_max_batch_events)
    request.scope.setdefault("tatawwu", {})["events"] = len(events)
    rate, burst = settings.gateway_events_per_s, settings.gateway_events_burst
    if (wait := state.limiter.take_events(principal.key_id, len(events), rate, burst)) > 0:
        detail = f"more than {rate:g} events/s for this key; send fewer or smaller batches"
        raise Problem(429, "rate_limited", "Too many requests", detail, retry_after=wait)
    try:
        # Belt and braces: each step has its own bound, this one caps the request as a whole.
        async with asyncio.timeout(settings.gateway_request_timeout_s):
            await authorise(request, principal, events)
            events = await seal(request, events)
            began = time.perf_counter()
            await produce(state.producer, events, settings.gateway_produce_timeout_s)
    except TimeoutError:
        detail = f"the request took longer than {settings.gateway_request_timeout_s:g}s"
        raise _unavailable("gateway", detail) from None
    except RecordTooLarge as exc:
        raise Problem(413, "too_large", "Request too large", str(exc)) from None
    except KafkaUnavailable as exc:
        raise _unavailable(
            "kafka", f"{exc}; nothing is lost by retrying the same request"
        ) from None
    state.metrics.produce_seconds.observe(time.perf_counter() - began)
    for event_type, count in Counter(event.type for event in events).items():
        state.metrics.accepted.labels(event_type).inc(count)
    body = orjson.dumps({"accepted": [event.id for event in events]})
    return Response(body, 202, media_type="application/json")


async def _check(probe: Any) -> dict[str, Any]:
    began = time.perf_counter()
    try:
        await asyncio.wait_for(probe, HEALTH_TIMEOUT_S)
    except Exception as exc:
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True, "ms": round((time.perf_counter() - began) * 1000, 1)}


@router.get("/health")
async def health() -> Response:
    """Liveness: 200 while the process answers (Kafka and PostgreSQL are `/ready`'s)."""
    return Response(b'{"status":"ok"}', 200, media_type="application/json")


@router.get("/ready", include_in_schema=False)
async def ready(request: Request) -> Response:
    """Kafka and PostgreSQL reachable: 200, else 503 with each check's result."""
    state = request.app.state
    kafka, postgres = await asyncio.gather(
        _check(state.producer.client.fetch_all_metadata()),
        _check(state.pool.fetchval("select 1")),
    )
    ok = kafka["ok"] and postgres["ok"]
    document = {
        "status": "ok" if ok else "unavailable",
        "checks": {"kafka": kafka, "postgres": postgres},
    }
    return Response(orjson.dumps(document), 200 if ok else 503, media_type="application/json")


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    """Prometheus text exposition of this app's own registry."""
    registry = request.app.state.metrics
    return Response(registry.render(), media_type=registry.content_type)
