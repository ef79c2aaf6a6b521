"""`GET /v1/volunteers/{volunteer_id}/export`: the admin endpoint of `tatawwu volunteers export`.

Platform admins only (a partner key made with `partners add ORG --admin`), like erasure:
the document holds a volunteer's personal data from every partner. The same gathering as
the CLI (`infra.subject_access`); 404 when nothing is held about the id. Never cached.
"""

from __future__ import annotations

from typing import Annotated

import orjson
from fastapi import APIRouter, Path, Request
from starlette.responses import Response

from infra import subject_access
from infra.keys import build_key_service
from producers.gateway.problems import Problem
from producers.gateway.routes import DB_ERRORS, _unavailable, authenticate

subject_access_router = APIRouter()


@subject_access_router.get(
    "/v1/volunteers/{volunteer_id}/export",
    responses={
        401: {"description": "no or unknown bearer key"},
        403: {"description": "not a platform admin key"},
        404: {"description": "nothing is held about this volunteer id"},
    },
)
async def export_volunteer(
    request: Request, volunteer_id: Annotated[str, Path(max_length=200)]
) -> Response:
    """Everything held about one volunteer, decrypted, as JSON (admin keys only)."""
    principal = await authenticate(request)
    if not principal.is_admin:
        raise Problem(403, "forbidden", "Forbidden", "only platform admin keys may export")
    state = request.app.state
    keys = state.keys or build_key_service(state.settings, state.pool)
    try:
        document = await subject_access.gather(state.pool, keys, volunteer_id, state.read_models)
    except subject_access.UnknownVolunteer:
        detail = f"no volunteer with id {volunteer_id!r} is held"
        raise Problem(404, "not_found", None, detail) from None
    except DB_ERRORS:
        raise _unavailable("database", "the read models could not be read; retry") from None
    headers = {"Cache-Control": "no-store"}
    return Response(orjson.dumps(document), 200, headers, media_type="application/json")
