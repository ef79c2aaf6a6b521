"""`/v1/volunteers/{id}`: personal data, only for bearer tokens with the volunteers scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from consumers.api import queries
from consumers.api.auth import require_volunteers_scope
from consumers.api.http import Cache, cached_json, not_found
from consumers.api.models import Volunteer
from consumers.api.routes.deps import Conn, Src

router = APIRouter(tags=["volunteers"])


@router.get(
    "/v1/volunteers/{volunteer_id}",
    response_model=Volunteer,
    dependencies=[Depends(require_volunteers_scope)],
    responses={401: {"description": "no bearer token"}, 403: {"description": "token lacks scope"}},
)
async def get_volunteer(
    request: Request,
    conn: Conn,
    sources: Src,
    volunteer_id: Annotated[str, Path(max_length=200)],
) -> Response:
    """A volunteer's profile, consent and totals (never cached by shared caches)."""
    row = await queries.volunteer(conn, sources, volunteer_id)
    if row is None:
        raise not_found("volunteer", volunteer_id)
    return cached_json(request, Volunteer(**row), Cache.PRIVATE)
