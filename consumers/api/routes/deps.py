"""What every route gets from the app: a pooled connection, the sources, the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated

import asyncpg
from fastapi import Depends, FastAPI, Request, Response
from pydantic import BaseModel

from consumers.api import cursor
from consumers.api.http import Cache, etag_response, to_json
from consumers.api.memo import shared
from consumers.api.sources import Sources
from infra.settings import Settings


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as conn:
        yield conn


# Coroutines, not functions: FastAPI runs a plain function dependency in its thread pool,
# a thread hand-off per request and dependency (the KPI served half /health's rate).
async def _sources(request: Request) -> Sources:
    return request.app.state.sources


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


async def _cursors(request: Request) -> cursor.Cursors:
    return cursor.signer(request.app.state.settings.cursor_secret)


Conn = Annotated[asyncpg.Connection, Depends(_connection)]
Src = Annotated[Sources, Depends(_sources)]
Cfg = Annotated[Settings, Depends(_settings)]
Cursors = Annotated[cursor.Cursors, Depends(_cursors)]


@asynccontextmanager
async def cursor_signer(app: FastAPI) -> AsyncIterator[None]:
    """At start-up: refuse a short cursor secret, or warn that cursors are per-process."""
    cursor.signer(app.state.settings.cursor_secret)
    yield


async def answer(
    request: Request,
    build: Callable[[asyncpg.Connection], Awaitable[BaseModel]],
    cache: Cache = Cache.AGGREGATE,
    memo_s: float | None = None,
) -> Response:
    """Build the document on a pooled connection, shared by identical requests for ~1 s
    (`memo_s` when given: a past day's)."""

    async def compute() -> bytes:
        async with request.app.state.pool.acquire() as conn:
            return to_json(await build(conn))

    return etag_response(request, await shared(request, compute, memo_s), cache)
