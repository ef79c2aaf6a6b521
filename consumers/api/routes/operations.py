"""`/v1/projections` (freshness), `/health`, `/metrics` and `/asyncapi` (the bus's document)."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.responses import HTMLResponse

from consumers.api.freshness import projections
from consumers.api.http import Cache
from consumers.api.models import Projections
from consumers.api.routes.deps import Src, answer
from infra.streams import published_asyncapi, published_asyncapi_html

router = APIRouter(tags=["operations"])


@router.get("/v1/projections", response_model=Projections)
async def get_projections(request: Request, sources: Src) -> Response:
    """Per read model: lag behind the log, last event time, last applied, counters."""
    ends = request.app.state.end_offsets
    return await answer(request, lambda conn: projections(conn, sources, ends), Cache.LIVE)


@router.get("/health")
async def health() -> Response:
    """Liveness: 200 while the process answers (PostgreSQL is `/ready`'s)."""
    return _uncached({"status": "ok"}, 200)


@router.get("/ready", include_in_schema=False)
async def ready(request: Request) -> Response:
    """200 when PostgreSQL answers; 503 otherwise."""
    try:
        async with request.app.state.pool.acquire(timeout=2) as conn:
            await conn.fetchval("select 1")
    except Exception as exc:
        body = {"status": "unavailable", "postgres": type(exc).__name__}
        return _uncached(body, 503)
    return _uncached({"status": "ok", "postgres": "ok"}, 200)


def _uncached(body: dict[str, str], status: int) -> Response:
    return Response(
        orjson.dumps(body), status, {"Cache-Control": "no-store"}, media_type="application/json"
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus exposition of this app's own registry."""
    return Response(generate_latest(request.app.state.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/asyncapi", response_class=Response)
async def asyncapi() -> Response:
    """The committed AsyncAPI 3.0 document of the Kafka interface (generated from code)."""
    return Response(published_asyncapi(), media_type="application/json")


@router.get("/asyncapi.html", response_class=HTMLResponse)
async def asyncapi_html() -> HTMLResponse:
    """The same document rendered by FastStream's AsyncAPI page."""
    return HTMLResponse(published_asyncapi_html())
