"""What every route gets from the app: a pooled connection, the sources, the settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import asyncpg
from fastapi import Depends, Request

from consumers.api.sources import Sources
from infra.settings import Settings


async def _connection(request: Request) -> AsyncIterator[asyncpg.Connection]:
    async with request.app.state.pool.acquire() as conn:
        yield conn


def _sources(request: Request) -> Sources:
    return request.app.state.sources


def _settings(request: Request) -> Settings:
    return request.app.state.settings


Conn = Annotated[asyncpg.Connection, Depends(_connection)]
Src = Annotated[Sources, Depends(_sources)]
Cfg = Annotated[Settings, Depends(_settings)]
