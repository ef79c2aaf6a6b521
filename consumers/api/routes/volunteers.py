"""`/v1/volunteers/{id}`: personal data, as much as the caller's role needs (`auth.py`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response

from consumers.api import queries
from consumers.api.auth import ADMIN, Caller, volunteer_caller
from consumers.api.http import Cache, cached_json, not_found
from consumers.api.models import OrganisationVolunteer, Volunteer
from consumers.api.routes.deps import Conn, Src

router = APIRouter(tags=["volunteers"])


@router.get(
    "/v1/volunteers/{volunteer_id}",
    response_model=Volunteer | OrganisationVolunteer,
    responses={401: {"description": "no bearer token"}, 403: {"description": "token has no role"},
               404: {"description": "unknown, or not one of the organisation's volunteers"}},
)  # fmt: skip
async def get_volunteer(
    request: Request,
    conn: Conn,
    sources: Src,
    caller: Annotated[Caller, Depends(volunteer_caller)],
    volunteer_id: Annotated[str, Path(max_length=200)],
) -> Response:
    """The admin role: profile, consent and totals. An organisation: its own volunteer's
    minimal fields only. Never cached by shared caches."""
    if caller.role == ADMIN:
        row = await queries.volunteer(conn, sources, volunteer_id)
        payload = Volunteer(**row) if row is not None else None
    else:
        assert caller.org_id is not None
        row = await queries.organisation_volunteer(conn, sources, volunteer_id, caller.org_id)
        payload = OrganisationVolunteer(**row) if row is not None else None
    if payload is None:
        raise not_found("volunteer", volunteer_id)
    return cached_json(request, payload, Cache.PRIVATE)
