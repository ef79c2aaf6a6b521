"""The read API's app factory: routers, pool, metrics, problem+json and the dashboard page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CollectorRegistry, Counter, Histogram

from consumers.api.dashboard_sql import create_dashboard_views
from consumers.api.freshness import EndOffsets
from consumers.api.http import install_problem_handlers
from consumers.api.memo import Memo
from consumers.api.routes import campaigns, kpi, operations, organizations, volunteers
from consumers.api.sources import Sources
from infra.db import create_pool
from infra.gc_tuning import tune_gc
from infra.logging import bind_correlation_id
from infra.problems import declare_problems
from infra.settings import Settings

log = structlog.get_logger(__name__)
STATIC = Path(__file__).with_name("static")


def _metrics(registry: CollectorRegistry) -> tuple[Counter, Histogram]:
    requests = Counter(
        "tatawwu_api_requests_total",
        "Requests answered, by route template and status",
        ["method", "route", "status"],
        registry=registry,
    )
    seconds = Histogram(
        "tatawwu_api_request_seconds",
        "Seconds to answer a request, by route template",
        ["route"],
        registry=registry,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    )
    return requests, seconds


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    """The OpenAPI document, every error declared as the shared problem+json schema."""

    def openapi() -> dict[str, Any]:
        if not app.openapi_schema:
            document = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = declare_problems(document)
        return app.openapi_schema

    return openapi


API_POOL_MIN = 6  # connections open at all times (a dashboard refresh's parallel asks)


def create_app(
    settings: Settings,
    schemas: Mapping[str, str] | None = None,
    *,
    dashboard_schema: str | None = None,
    create_views: bool = True,
    tune_collector: bool = False,
) -> FastAPI:
    """The read API over the read models in `schemas` (default: the projectors' own).

    `tune_collector`: the process serves this app alone (uvicorn), so its garbage
    collector is tuned once started (`infra.gc_tuning`); not for an app in a test process.
    """
    sources = Sources.of(schemas, dashboard_schema or settings.api_dashboard_schema)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # No statement cache: after a rebuild swaps a schema, names resolve afresh. The
        # dashboard asks six documents at once: that many connections are kept open.
        app.state.pool = await create_pool(
            settings, statement_cache_size=0, min_size=max(settings.db_pool_min, API_POOL_MIN),
            max_size=max(settings.db_pool_max, API_POOL_MIN),
        )  # fmt: skip
        app.state.end_offsets = EndOffsets(settings)
        if create_views:
            async with app.state.pool.acquire() as conn:
                await create_dashboard_views(
                    conn,
                    sources.read_models,
                    dashboard=sources.dashboard,
                    k=settings.api_min_cell,
                    role=settings.api_dashboard_role,
                    zone=settings.api_timezone,
                )
        if tune_collector:  # the tail: full collections stalled every client
            tune_gc()
        try:
            yield
        finally:
            await app.state.memo.close()
            await app.state.end_offsets.close()
            await app.state.pool.close()

    app = FastAPI(
        title="Tatawwu read API",
        version="1.0",
        description=(
            "Read models of the national volunteering platform: the participation KPI "
            "(10% by 2030), campaigns, organisations, projection freshness. Aggregates only, "
            "except /v1/volunteers/{id} (bearer token with the volunteers scope)."
        ),
        lifespan=lifespan,
    )
    app.state.settings, app.state.sources = settings, sources
    app.state.memo = Memo(settings.api_memo_s)
    app.state.registry = CollectorRegistry()
    requests, seconds = _metrics(app.state.registry)
    install_problem_handlers(app)

    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        bind_correlation_id(request.headers.get("x-correlation-id"))
        began = time.perf_counter()
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        elapsed = time.perf_counter() - began
        requests.labels(request.method, route, str(response.status_code)).inc()
        seconds.labels(route).observe(elapsed)
        log.debug("request_served", method=request.method, route=route,
                  status=response.status_code, duration_ms=round(elapsed * 1000, 1))  # fmt: skip
        return response

    for module in (kpi, campaigns, organizations, volunteers, operations):
        app.include_router(module.router)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app
