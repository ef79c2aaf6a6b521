"""Shared fixtures: the real local stack (started here if `make test` did not), unique names."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from infra.local.sinks import Sinks
from infra.settings import Settings


def pytest_configure(config: pytest.Config) -> None:
    """Quiet, JSON-free logs in tests; no hypothesis deadline (speed is the benchmarks'
    business: a loaded machine failed property tests on the 200 ms default when a folder
    ran alone); tests/unit/schemas/conftest.py adds fixed seeds in CI."""
    os.environ.setdefault("TATAWWU_LOG_FORMAT", "console")
    from hypothesis import settings as hypothesis_settings

    hypothesis_settings.register_profile("tatawwu", deadline=None)
    hypothesis_settings.load_profile("tatawwu")


@pytest.fixture(autouse=True)
def _fresh_context() -> Iterator[None]:
    """Each test starts with no bound log fields and no current trace: a test that binds
    a correlation id or begins a trace without ending it must not leak into the next
    (async tests copy the context they start in)."""
    from opentelemetry import context as otel
    from structlog.contextvars import clear_contextvars

    clear_contextvars()
    token = otel.attach(otel.Context())
    yield
    with contextlib.suppress(Exception):  # detached in another context: nothing to undo
        otel.detach(token)
    clear_contextvars()


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings for the stack under test (local defaults or the TATAWWU_* environment)."""
    return Settings()


@pytest.fixture(scope="session")
def stack(settings: Settings) -> Iterator[Settings]:
    """The real Kafka and PostgreSQL, with topics and migrations; stopped after if started here."""
    from tatawwu.stack import down, up

    report = up(settings)  # idempotent: starts only what is missing, then topics and migrations
    yield settings
    if report.started:  # leave running what `make test` (or the developer) started
        down(settings, services=tuple(report.started))


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topics, groups and tables owned by one test."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def sinks(tmp_path: Path) -> AsyncIterator[Sinks]:
    """The local SMTP and SMS sinks in this event loop, on ports the OS picks; stopped after."""
    async with Sinks(tmp_path / "sinks", smtp_port=0, sms_port=0) as running:
        yield running
