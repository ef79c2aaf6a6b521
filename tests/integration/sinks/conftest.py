"""Both sinks served in the test's event loop on free ports, writing into a fresh directory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from infra.local.sinks import Sinks


@pytest.fixture
async def sms(sinks: Sinks) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the SMS sink (relative URLs: `/v1/messages`, `/control/fail`)."""
    async with httpx.AsyncClient(base_url=sinks.sms_base_url, timeout=5.0) as client:
        yield client
