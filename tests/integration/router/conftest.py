"""The router tests' own copies of the catalog topics, per test."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from infra.settings import Settings
from tests.support.projectors import create_prefixed_topics, delete_topics


@pytest.fixture
async def prefix(stack: Settings, unique: str) -> AsyncIterator[str]:
    """This test's own copies of the catalog topics; deleted afterwards."""
    prefix = f"t{unique}."
    await create_prefixed_topics(stack, prefix)
    yield prefix
    await delete_topics(stack, prefix)
