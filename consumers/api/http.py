"""HTTP conventions of the read API: cached JSON with ETags, and problem+json errors.

The problem shape is the platform's one (`infra.problems`), shared with the gateway.
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any

import asyncpg
import orjson
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from consumers.api.cursor import BadCursor
from infra.problems import MEDIA_TYPE, Problem, generic, validation_errors

__all__ = ["MEDIA_TYPE", "Cache", "Problem", "cached_json", "not_found", "problem_response"]

log = structlog.get_logger(__name__)


class Cache(StrEnum):
    """How long a client or proxy may reuse a response."""

    AGGREGATE = "aggregate"  # public, max-age from settings (the projections move in seconds)
    LIVE = "live"  # freshness: always revalidate (cheap with the ETag)
    PRIVATE = "private"  # personal data: never stored by a shared or browser cache


def not_found(what: str, ident: str) -> Problem:
    """A precise 404: which kind of resource, which id."""
    return Problem(404, "not_found", None, f"no {what} with id {ident!r}")


def _cache_control(cache: Cache, max_age: int) -> str:
    if cache is Cache.AGGREGATE:
        return f"public, max-age={max_age}"
    if cache is Cache.LIVE:
        return "no-cache"
    return "private, no-store"


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return "*" in tags or etag in tags


def to_json(payload: BaseModel | dict[str, Any]) -> bytes:
    """The JSON body the API serves for a document."""
    if isinstance(payload, BaseModel):
        return payload.model_dump_json(by_alias=True).encode()
    return orjson.dumps(payload)


def etag_response(request: Request, body: bytes, cache: Cache) -> Response:
    """A JSON body with an ETag (hash of the body); 304 when the client has it."""
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        "Cache-Control": _cache_control(cache, request.app.state.settings.api_cache_max_age_s),
    }
    if cache is Cache.PRIVATE:
        headers["Vary"] = "Authorization"
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


def cached_json(request: Request, payload: BaseModel | dict[str, Any], cache: Cache) -> Response:
    """The payload as JSON with an ETag and the cache policy."""
    return etag_response(request, to_json(payload), cache)


def problem_response(request: Request, problem: Problem) -> Response:
    """The problem document for an error (never cached; 401 says how to authenticate)."""
    headers = {"Cache-Control": "no-store"}
    if problem.status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="tatawwu", scope="volunteers"'
    return problem.response(headers, instance=request.url.path)


def install_problem_handlers(app: FastAPI) -> None:
    """Every error the app answers, including 404 routes and 422 parameters, as problem+json."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        return problem_response(request, exc)

    @app.exception_handler(BadCursor)
    async def _bad_cursor(request: Request, exc: BadCursor) -> Response:
        # Whatever a client makes of a cursor is its own mistake: 400, never a 500.
        return problem_response(request, Problem(400, "bad_cursor", None, str(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        problem = generic(exc.status_code, exc.detail if isinstance(exc.detail, str) else "")
        if exc.status_code == 404:
            problem.detail = f"no resource at {request.url.path}"
        return problem_response(request, problem)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = validation_errors(exc.errors())
        for error in errors:  # the names this API used before the shapes were merged
            error["where"], error["problem"] = error["path"], error["message"]
        detail = "; ".join(f"{e['path']}: {e['message']}" for e in errors)
        return problem_response(
            request, Problem(422, "invalid_request", None, detail, errors=errors)
        )

    @app.exception_handler(asyncpg.UndefinedTableError)
    @app.exception_handler(asyncpg.InvalidSchemaNameError)
    async def _not_ready(request: Request, exc: asyncpg.PostgresError) -> Response:
        # A projector that never started has no schema yet: not the client's fault, retry.
        detail = "a read model this answer needs is not there yet (projector not started?)"
        problem = Problem(503, "read_model_unavailable", None, detail, retry_after=5)
        return problem_response(request, problem)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.error("request_failed", path=request.url.path, error=type(exc).__name__)
        return problem_response(
            request, Problem(500, "internal", None, "the read API failed; see its logs")
        )
