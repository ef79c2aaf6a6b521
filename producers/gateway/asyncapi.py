"""`/asyncapi` and `/asyncapi.html`: the bus's AsyncAPI document beside the OpenAPI one."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import HTMLResponse, Response

from infra.streams import published_asyncapi, published_asyncapi_html

router = APIRouter(tags=["operations"])


@router.get("/asyncapi", response_class=Response)
async def asyncapi() -> Response:
    """The committed AsyncAPI 3.0 document of the Kafka interface (generated from code)."""
    return Response(published_asyncapi(), media_type="application/json")


@router.get("/asyncapi.html", response_class=HTMLResponse)
async def asyncapi_html() -> HTMLResponse:
    """The same document rendered by FastStream's AsyncAPI page."""
    return HTMLResponse(published_asyncapi_html())
