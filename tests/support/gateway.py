"""The gateway in this event loop, partners' SDK-made CloudEvents, and projectors from now on.

The gateway writes to the catalog's own topics (no prefix), which earlier tests filled:
`start_at_end` stores the topics' current end offsets as a fresh projector schema's
progress, so a projector started on them applies only what a test sends from then on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
from cloudevents.core.v1.event import CloudEvent

from consumers.runtime import Projector, bookkeeping
from infra.kafka import end_offsets
from infra.settings import Settings
from producers.gateway import create_app
from producers.gateway.partners import add_partner_key
from tests.support import events


@dataclass
class Partner:
    """A partner organisation with a fresh gateway key."""

    org: str
    key: str
    unique: str

    @property
    def source(self) -> str:
        return f"partner/{self.org}"

    def document(self, event_type: str, event_id: str, **fields: Any) -> dict[str, Any]:
        """An example event of this partner's, timed now, with these payload fields."""
        now = dt.datetime.now(dt.UTC)
        fields = events.known_fields(event_type, fields)
        return events.event(event_type, event_id, now, source=self.source, **fields)

    def sdk_event(self, document: dict[str, Any], **extensions: Any) -> CloudEvent:
        """The same event made with the official `cloudevents` SDK, with extensions."""
        attributes = {k: v for k, v in document.items() if k != "data"}
        attributes["time"] = dt.datetime.fromisoformat(attributes["time"])
        return CloudEvent({**attributes, **extensions}, document["data"])


@contextlib.asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """The gateway app with its lifespan running, and an HTTP client talking to it."""
    app = create_app(settings.model_copy(update={"gateway_key_cache_s": 0.0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            yield app, client


async def new_partner(app: Any, unique: str) -> Partner:
    """A fresh organisation with a key, in the real database."""
    org = f"org-{unique}"
    issued = await add_partner_key(app.state.pool, org)
    return Partner(org, issued.key, unique)


async def start_at_end(
    conn: asyncpg.Connection, settings: Settings, projector: Projector, schema: str
) -> None:
    """Create the projector's schema with its progress at the topics' current ends."""
    await bookkeeping.prepare_schema(conn, projector, schema)
    ends = await end_offsets(settings, topics=projector.topics)
    async with conn.transaction():
        await conn.execute(f"set local search_path to {bookkeeping.quoted(schema)}")
        await bookkeeping.lock_offsets(conn, list(ends))
        await bookkeeping.store_progress(conn, ends, (0, 0, 0, 0), None)
