"""The gateway app factory: resources in the lifespan, problem+json for every error.

app = create_app(settings)   # uvicorn producers.gateway.app:main --factory
"""

from __future__ import annotations

import asyncio
import functools
import operator
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import structlog
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from pydantic import Field, TypeAdapter
from starlette.exceptions import HTTPException
from starlette.responses import Response

from infra.admission import Admission, ClaimCache
from infra.claims import DEFAULT_SCHEMA
from infra.db import create_pool
from infra.gc_tuning import tune_gc
from infra.kafka import build_producer
from infra.keys import build_key_service
from infra.logging import configure_logging
from infra.migrations import apply
from infra.problems import declare_problems, validation_errors
from infra.settings import Settings, get_settings
from infra.subject_access import ReadModels
from producers.gateway.asyncapi import router as asyncapi_router
from producers.gateway.context import RequestContext
from producers.gateway.erasure import erasure_router
from producers.gateway.ingest import MEDIA_TYPES
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.partners import MIGRATIONS, KeyVerifier
from producers.gateway.problems import Problem, generic
from producers.gateway.ratelimit import RateLimiter
from producers.gateway.routes import router
from producers.gateway.subject_access import subject_access_router
from producers.gateway.webhooks import router as webhooks_router
from schemas import registry

log = structlog.get_logger("producers.gateway")

ProducerFactory = Callable[[Settings], AIOKafkaProducer]
STOP_TIMEOUT_S = 5.0
LINGER_MS = 1
MAX_BATCH_BYTES = 256 * 1024


def producer_options(settings: Settings) -> dict[str, Any]:
    """How the gateway's producer differs from `infra.kafka.build_producer`'s defaults."""
    # Requests arrive as whole batches, so waiting for more records buys little: a short
    # linger keeps single-event latency low. Bigger producer batches mean fewer of them
    # per 500-event request (the gateway fills them itself, see emit.py).
    return {
        "client_id": f"{settings.kafka_client_id}-gateway",
        "linger_ms": LINGER_MS,
        "max_batch_size": MAX_BATCH_BYTES,
    }


def _default_producer(settings: Settings) -> AIOKafkaProducer:
    return build_producer(settings, **producer_options(settings))


def _lifespan(settings: Settings, producer_factory: ProducerFactory, tune_collector: bool):  # type: ignore[no-untyped-def]
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await create_pool(settings)
        try:
            async with pool.acquire() as conn:
                await apply(conn, MIGRATIONS)  # idempotent, under the migrations lock
            producer = producer_factory(settings)
            await producer.start()
        except BaseException:
            await pool.close()
            raise
        app.state.pool = pool
        app.state.producer = producer
        app.state.verifier = KeyVerifier(pool, settings.gateway_key_cache_s)
        app.state.claims = ClaimCache(settings.gateway_key_cache_s)
        app.state.admission = Admission(
            pool, DEFAULT_SCHEMA, app.state.claims, settings.time_bounds
        )
        # Personal fields are encrypted before Kafka (infra/sealing.py); off: baseline only.
        app.state.keys = build_key_service(settings, pool) if settings.encrypt_personal else None
        if tune_collector:  # a served process: the tail (infra.gc_tuning)
            tune_gc()
        log.info("gateway_started", kafka=settings.bootstrap_servers)
        try:
            yield
        finally:
            try:
                await asyncio.wait_for(producer.stop(), STOP_TIMEOUT_S)
            except TimeoutError:
                log.warning("gateway_producer_stop_timed_out", seconds=STOP_TIMEOUT_S)
            await pool.close()
            log.info("gateway_stopped")

    return lifespan


def _record(request: Request, problem: Problem) -> Response:
    request.scope.setdefault("tatawwu", {})["reason"] = problem.slug
    request.app.state.metrics.rejections.labels(problem.slug).inc()
    return problem.response(instance=request.url.path)


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _record(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _record(request, generic(exc.status_code, str(exc.detail)))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problem = generic(422, "the request does not match the endpoint's parameters")
    problem.errors = validation_errors(exc.errors())
    return _record(request, problem)


def _events_request_body() -> tuple[dict[str, Any], dict[str, Any]]:
    """`POST /v1/events`'s body (one CloudEvent or a batch), and the schemas it refers to."""
    # The current version of every type, discriminated by `type`, as ingest validates it.
    envelopes = functools.reduce(operator.or_, (s.envelope for s in registry.CURRENT.values()))
    one = Annotated[envelopes, Field(discriminator="type")]  # type: ignore[valid-type]
    body = TypeAdapter(one | list[one]).json_schema(  # type: ignore[valid-type]
        ref_template="#/components/schemas/{model}"
    )
    definitions = body.pop("$defs", {})
    body["description"] = (
        "One CloudEvents 1.0 envelope (structured JSON) or a JSON array of them (a batch). "
        "Older versions of a type (see `dataschema` and schemas/published/) are accepted too."
    )
    return body, definitions


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document with the events body, the 202 answer and problem+json errors."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(title=app.title, version=app.version, routes=app.routes)
        body, definitions = _events_request_body()
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(definitions)
        schemas["EventsRequest"] = body
        ref = {"$ref": "#/components/schemas/EventsRequest"}
        content = {media: {"schema": ref} for media in sorted(MEDIA_TYPES)}
        operation = document["paths"]["/v1/events"]["post"]
        operation["requestBody"] = {"required": True, "content": content}
        accepted = {"type": "object", "required": ["accepted"],
                    "properties": {"accepted": {"type": "array", "items": {"type": "string"},
                                                "description": "The ids of the events, in order"}}}  # fmt: skip
        operation["responses"] = {
            "202": {"description": "Every event acknowledged by Kafka",
                    "content": {"application/json": {"schema": accepted}}},
            **{str(status): {"description": title} for status, title in _EVENTS_ERRORS.items()},
        }  # fmt: skip
        app.openapi_schema = declare_problems(document)
        return app.openapi_schema

    return openapi


# What `POST /v1/events` can answer besides 202 (the README's table, in OpenAPI).
_EVENTS_ERRORS = {
    400: "Malformed JSON, not an object or array, empty batch or body",
    401: "Missing, malformed, unknown or revoked key",
    403: "A fact this key may not state (`errors` per event, each naming its rule)",
    408: "The body did not arrive in time",
    413: "Body or batch over the limit",
    415: "Content-Type not JSON or CloudEvents JSON",
    422: "Events that do not match the contract, or a time out of bounds (`errors` per event)",
    429: "Over a rate limit (Retry-After)",
    503: "Kafka or PostgreSQL unavailable (Retry-After); retrying the same request is safe",
}


def create_app(
    settings: Settings | None = None,
    *,
    producer_factory: ProducerFactory | None = None,
    tune_collector: bool = False,
) -> FastAPI:
    """A gateway app; its Kafka producer and PostgreSQL pool start in its lifespan.

    `tune_collector`: the process serves this app alone (uvicorn), so its garbage
    collector is tuned once started (`infra.gc_tuning`); not for an app in a test process.
    """
    settings = settings or get_settings()
    app = FastAPI(
        title="Tatawwu partner gateway",
        version="1",
        lifespan=_lifespan(settings, producer_factory or _default_producer, tune_collector),
        docs_url="/docs",
        redoc_url=None,
    )
    metrics = GatewayMetrics()
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.limiter = RateLimiter(settings.gateway_rate_per_s, settings.gateway_rate_burst)
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_middleware(RequestContext, metrics=metrics)
    app.include_router(router)
    app.include_router(erasure_router)
    app.state.topic_prefix = ""  # where `volunteer.erased` goes (tests set their own)
    app.include_router(subject_access_router)
    app.state.read_models = ReadModels()  # what an export reads (tests set their own)
    app.include_router(asyncapi_router)
    app.include_router(webhooks_router)  # provider webhooks: replies, receipts, bounces
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app


def main() -> Any:
    """Factory for `uvicorn --factory producers.gateway.app:main` (settings from env)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, tune_collector=True)
