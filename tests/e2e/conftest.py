"""Browser-test fixtures: a projected simulation, the read API under real uvicorn, chromium."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, async_playwright

from consumers.api.app import create_app
from infra.settings import Settings
from tests.integration.api.world import ProjectedWorld, project_world, stop_world
from tests.support.ports import free_port

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


@pytest.fixture(scope="session")
async def e2e_world(stack: Settings) -> AsyncIterator[ProjectedWorld]:
    """A smaller simulation projected by the real projectors (kept running)."""
    projected = await project_world(stack, "e2e" + uuid.uuid4().hex[:8], volunteers=900, seed=9)
    yield projected
    await stop_world(projected)


@pytest.fixture(scope="session")
async def base_url(e2e_world: ProjectedWorld) -> AsyncIterator[str]:
    """The read API and dashboard served by uvicorn on an ephemeral port."""
    port = free_port()
    app = create_app(e2e_world.settings, e2e_world.schemas, create_views=False)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await task


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's chromium binary (infra/local/install-system-deps.sh installs it)."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run infra/local/install-system-deps.sh")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(chromium_path: str) -> AsyncIterator[Browser]:
    """Debian's chromium, headless, driven by Playwright (never a downloaded browser)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=chromium_path, args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (git-ignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
