"""Fixtures for the read API tests: one projected simulation per session, apps over it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from consumers.api.app import create_app
from consumers.api.auth import digest
from infra.settings import Settings
from tests.integration.api.world import ProjectedWorld, project_world, stop_world

TOKEN = "tvol_test-token-with-the-volunteers-scope"
ApiFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(scope="session")
async def world(stack: Settings) -> AsyncIterator[ProjectedWorld]:
    """The simulator's stream projected by the four real projectors, kept running."""
    import uuid

    projected = await project_world(stack, uuid.uuid4().hex[:10])
    yield projected
    await stop_world(projected)


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client for the app, with its lifespan (pool, views) running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            yield client


@pytest.fixture(scope="session")
def api_settings(stack: Settings) -> Settings:
    """Settings with a known volunteers-scope token (stored as its digest) and k = 10."""
    return stack.model_copy(
        update={"api_volunteer_token_sha256": f"{'0' * 64}, {digest(TOKEN)}", "api_min_cell": 10}
    )


@pytest.fixture
def make_api(world: ProjectedWorld, api_settings: Settings, unique: str) -> ApiFactory:
    """Open a client on an app over the world's schemas; `k` and settings overridable."""

    def factory(
        schemas: dict[str, str] | None = None, **changes: Any
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        settings = api_settings.model_copy(update=changes)
        app = create_app(settings, schemas or world.schemas, create_views=False)
        return serve(app)

    return factory


@pytest.fixture
async def api(make_api: ApiFactory) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the API with the default settings of the tests (k = 10)."""
    async with make_api() as client:
        yield client
