"""The gateway app factory: resources in the lifespan, problem+json for every error.

app = create_app(settings)   # uvicorn producers.gateway.app:main --factory
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from infra.db import create_pool
from infra.kafka import build_producer
from infra.logging import configure_logging
from infra.migrations import apply
from infra.settings import Settings, get_settings
from producers.gateway.claims import ClaimCache
from producers.gateway.context import RequestContext
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.partners import MIGRATIONS, KeyVerifier
from producers.gateway.problems import Problem, generic
from producers.gateway.ratelimit import RateLimiter
from producers.gateway.routes import router

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


def _lifespan(settings: Settings, producer_factory: ProducerFactory):  # type: ignore[no-untyped-def]
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
    return problem.response()


async def _on_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Problem)
    return _record(request, exc)


async def _on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return _record(request, generic(exc.status_code, str(exc.detail)))


async def _on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"path": ".".join(map(str, e.get("loc", ()))), "rule": e.get("type", ""),
         "message": e.get("msg", "")}
        for e in exc.errors()
    ]  # fmt: skip
    problem = generic(422, "the request does not match the endpoint's parameters")
    problem.errors = errors
    return _record(request, problem)


def create_app(
    settings: Settings | None = None, *, producer_factory: ProducerFactory | None = None
) -> FastAPI:
    """A gateway app; its Kafka producer and PostgreSQL pool start in its lifespan."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Tatawwu partner gateway",
        version="1",
        lifespan=_lifespan(settings, producer_factory or _default_producer),
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
    return app


def main() -> Any:
    """Factory for `uvicorn --factory producers.gateway.app:main` (settings from env)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
