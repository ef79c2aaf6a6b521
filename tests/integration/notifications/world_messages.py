"""Events for the new-message tests: volunteers with alert consent, opportunities with options."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from consumers.notifications.service import serve
from infra.settings import Settings
from schemas.envelope import Event
from tests.integration.notifications.world import _event
from tests.support.events import iso


def volunteer(
    volunteer_id: str, *, alerts: bool = False, sms: bool = True, municipality: str = "doha",
    birth_year: int = 1995, language: str = "en",
) -> Event[Any]:  # fmt: skip
    """A registration from org-1 (phone from the id's digits, like `world.registered`)."""
    n = int("".join(c for c in volunteer_id if c.isdigit()) or "0")
    consent: dict[str, bool] = {"sms": sms, "email": True}
    if alerts:
        consent["alerts"] = True
    return _event(
        "volunteer.registered", f"reg-{volunteer_id}",
        volunteer_id=volunteer_id, given_name="Sara", phone=f"+9746{n:07d}",
        email=f"{volunteer_id}@example.org", language=language, birth_year=birth_year,
        gender="female", nationality_group="qatari", municipality=municipality, consent=consent,
    )  # fmt: skip


def published(
    opportunity_id: str, *, starts_in: dt.timedelta = dt.timedelta(hours=20),
    capacity: int = 50, municipality: str = "doha", min_age: int = 16,
    auto_release: bool | None = None, title_en: str = "Beach clean-up",
) -> Event[Any]:  # fmt: skip
    """`opportunity.published` for campaign cmp-1, starting `starts_in` from now."""
    starts = dt.datetime.now(dt.UTC).replace(microsecond=0) + starts_in
    options = {} if auto_release is None else {"auto_release": auto_release}
    return _event(
        "opportunity.published", f"pub-{opportunity_id}",
        opportunity_id=opportunity_id, campaign_id="cmp-1", title_ar="تنظيف الشاطئ",
        title_en=title_en, starts_at=iso(starts), ends_at=iso(starts + dt.timedelta(hours=3)),
        capacity=capacity, municipality=municipality, min_age=min_age, **options,
    )  # fmt: skip


def updated(opportunity_id: str, event_id: str, **changes: Any) -> Event[Any]:
    """`opportunity.updated` from org-1 (datetimes given as such are written in ISO form)."""
    data = {k: iso(v) if isinstance(v, dt.datetime) else v for k, v in changes.items()}
    return _event(
        "opportunity.updated", event_id, opportunity_id=opportunity_id, campaign_id="cmp-1",
        **data,
    )  # fmt: skip


@contextlib.asynccontextmanager
async def notifier_at(
    settings: Settings, prefix: str, schema: str, clock: Callable[[], dt.datetime]
) -> AsyncIterator[asyncio.Task[None]]:
    """The notifier deciding by `clock` (the sender and the releaser), stopped cleanly after."""
    stopping = asyncio.Event()
    task = asyncio.create_task(serve(
        settings, schema=schema, group_id=f"g-{schema}", topic_prefix=prefix,
        stopping=stopping, handle_signals=False, clock=clock,
    ))  # fmt: skip
    try:
        yield task
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=30)


async def wait_rows(
    conn: asyncpg.Connection, query: str, *args: Any, check: Callable[[list[Any]], bool],
    task: asyncio.Task[None] | None = None, wait_s: float = 60,
) -> list[dict[str, Any]]:  # fmt: skip
    """Poll `query` until `check(rows)` holds (generous deadline); return the rows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    rows: list[dict[str, Any]] = []
    while loop.time() < deadline:
        if task is not None and task.done():
            task.result()
        with contextlib.suppress(asyncpg.UndefinedTableError):
            rows = [dict(r) for r in await conn.fetch(query, *args)]
            if check(rows):
                return rows
        await asyncio.sleep(0.2)
    msg = f"condition not met after {wait_s}s; last rows: {rows}"
    raise AssertionError(msg)
