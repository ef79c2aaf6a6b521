"""A job run on a timer beside a service's main work, until the service stops.

The router's ingress trim and dead-letter key purge and the notifier's ledger purge are
each a pass that may fail (the database or the broker away for a moment): a failure is
logged by its type (never its message: it may quote a value) and the pass runs again at
the next interval; nothing is lost by waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)


async def every(
    interval_s: float,
    stopping: asyncio.Event,
    job: Callable[[], Awaitable[None]],
    failed: str,
    *,
    at_start: bool = True,
) -> None:
    """Run `job` (at start too, unless `at_start` is False) and then every `interval_s`
    until `stopping` is set; a failed pass is logged as `failed` and tried again later."""
    if not at_start:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval_s)
    while not stopping.is_set():
        try:
            await job()
        except Exception as exc:  # tried again at the next interval
            log.warning(failed, error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), timeout=interval_s)
