"""`POST /v1/volunteers/{volunteer_id}/erasure`: the admin endpoint of `tatawwu volunteers erase`.

Platform admins only (a partner key made with `partners add ORG --admin`): erasure is a
platform fact. Runs the same resumable steps as the CLI (`infra.erasure`): the key is
destroyed, `volunteer.erased` published; repeating the request is safe and answers the
same state. 200 with the erasure's state once every step is done.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from starlette.responses import Response

from infra import erasure
from producers.gateway.problems import Problem
from producers.gateway.routes import DB_ERRORS, _unavailable, authenticate

erasure_router = APIRouter()


@erasure_router.post("/v1/volunteers/{volunteer_id}/erasure")
async def erase_volunteer(request: Request, volunteer_id: str) -> Response:
    """Erase one volunteer (admin keys only): key destroyed, `volunteer.erased` published."""
    principal = await authenticate(request)
    if not principal.is_admin:
        raise Problem(403, "forbidden", "Forbidden", "only platform admin keys may erase")
    settings = request.app.state.settings
    try:
        [state] = await erasure.erase(settings, [volunteer_id], request.app.state.topic_prefix)
    except ValueError as exc:
        raise Problem(422, "invalid_request", "Invalid request", str(exc)) from None
    except DB_ERRORS:
        raise _unavailable("database", "the erasure could not be recorded; retry") from None
    if request.app.state.keys is not None:
        request.app.state.keys.forget(volunteer_id)  # this process: at once, not within TTL
    body = {
        "volunteer_id": state.volunteer_id,
        "requested_at": state.requested_at.isoformat(),
        "key_destroyed_at": state.key_destroyed_at and state.key_destroyed_at.isoformat(),
        "published_at": state.published_at and state.published_at.isoformat(),
    }
    return Response(orjson.dumps(body), 200, media_type="application/json")
