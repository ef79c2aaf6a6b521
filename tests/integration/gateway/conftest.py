"""The gateway under test: one app per module on the real stack, and a fresh partner per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from gateway_helpers import Partner, new_partner

from infra.settings import Settings
from producers.gateway import create_app


@pytest.fixture(scope="module")
def gateway_settings(stack: Settings) -> Settings:
    """Small limits so that every limit can be hit cheaply; no key cache (revocation is immediate)."""
    return stack.model_copy(
        update={
            "gateway_max_batch_events": 50,
            "gateway_max_body_bytes": 64 * 1024,
            "gateway_request_timeout_s": 1.0,
            "gateway_produce_timeout_s": 3.0,
            "gateway_key_cache_s": 0.0,
            "key_cache_s": 0.0,  # an erasure is seen at once
        }
    )


@pytest.fixture(scope="module")
async def gateway(gateway_settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with its lifespan running (producer and pool started)."""
    app = create_app(gateway_settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture(scope="module")
async def client(gateway: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to the app in-process."""
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        yield client


@pytest.fixture
async def partner(gateway: FastAPI, unique: str) -> Partner:
    """A partner with a fresh key and organisation."""
    return await new_partner(gateway, unique)
