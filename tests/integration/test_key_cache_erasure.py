"""A consumer's cached data keys and erasure, against the real PostgreSQL key store.

Each `PgKeyService` below stands for one process (its own cache) sharing the store: the
gateway that made the key, a projector that cached it, the erasure that destroyed it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from consumers.runtime.batch import opener_of
from infra.db import create_pool
from infra.erasure import erased_event
from infra.keys import build_key_service
from infra.sealing import seal_events
from infra.settings import Settings
from schemas.envelope import Event
from schemas.personal import sealed_values
from tests.unit.test_sealing import registration

pytestmark = [pytest.mark.postgres]


@pytest.fixture
async def pool(stack: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(stack, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def opened(opener: Any, *events: Event[Any]) -> list[Event[Any]]:
    return [event for _, event in await opener([(None, event) for event in events])]


async def test_a_projector_opens_nothing_of_a_volunteer_after_their_erasure_fact(
    stack: Settings, pool: asyncpg.Pool, unique: str
) -> None:
    """The key is still in the projector's cache when another process destroys it: from
    the batch holding `volunteer.erased` on, nothing of that volunteer opens, and the
    cache asks PostgreSQL nothing more for it."""
    volunteer = f"vq-{unique}"
    gateway, projector, eraser = (build_key_service(stack, pool) for _ in range(3))
    first, later = await seal_events(gateway, [registration(volunteer, f"e1-{unique}"),
                                               registration(volunteer, f"e2-{unique}")])  # fmt: skip
    opener = opener_of(projector)
    [clear] = await opened(opener, first)
    assert clear.data.phone == "+97455501234"  # opened, and the key is cached
    assert await eraser.destroy(volunteer) is True  # another process: the cache is stale
    assert await projector.keys_by_id([first.data.given_name.kid])  # (still cached here)
    fact = erased_event(volunteer, dt.datetime.now(dt.UTC))
    same_batch = await opened(opener, later, fact)
    assert len(sealed_values(same_batch[0].data)) == 8
    queries = projector.queries
    [next_batch] = await opened(opener, later)
    assert len(sealed_values(next_batch.data)) == 8
    assert projector.queries == queries  # known destroyed: no round trip
    [fresh] = await opened(opener_of(build_key_service(stack, pool)), later)  # a rebuild
    assert len(sealed_values(fresh.data)) == 8


async def test_a_consumer_given_partitions_asks_again_and_sees_a_destroyed_key(
    stack: Settings, pool: asyncpg.Pool, unique: str
) -> None:
    """After a rebalance (`forget_all`) a consumer that never read the erasure fact (another
    instance did) finds the key destroyed; other volunteers' keys still open."""
    gone, kept = f"vr-{unique}", f"vs-{unique}"
    gateway, projector, eraser = (build_key_service(stack, pool) for _ in range(3))
    events = await seal_events(gateway, [registration(gone, f"e1-{unique}"),
                                         registration(kept, f"e2-{unique}")])  # fmt: skip
    opener = opener_of(projector)
    assert all(not sealed_values(e.data) for e in await opened(opener, *events))
    await eraser.destroy(gone)
    projector.forget_all()  # what the runtime does on every partition assignment
    gone_event, kept_event = await opened(opener, *events)
    assert len(sealed_values(gone_event.data)) == 8
    assert kept_event.data.phone == "+97455501234"
