"""The PostgreSQL key service: one data key per volunteer, wrapped, cached, destroyable."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import asyncpg
import pytest

from infra.db import create_pool
from infra.keys import MasterKey, MasterKeyMismatch, PgKeyService, build_key_service
from infra.settings import Settings

pytestmark = [pytest.mark.postgres]


@pytest.fixture
async def pool(stack: Settings) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(stack, min_size=1, max_size=4)
    yield pool
    await pool.close()


async def test_concurrent_makers_agree_on_one_key_per_volunteer(
    stack: Settings, pool: asyncpg.Pool, unique: str
) -> None:
    """Two processes asking for the same new volunteers at once get the same keys."""
    ids = [f"vk-{unique}-{n}" for n in range(20)]
    one, two = build_key_service(stack, pool), build_key_service(stack, pool)
    first, second = await asyncio.gather(one.keys_for(ids), two.keys_for(ids))
    assert {v: k.kid for v, k in first.items()} == {v: k.kid for v, k in second.items()}
    assert len({k.kid for k in first.values()}) == len(ids)
    # A third process (an empty cache) opens what the first encrypted.
    reader = build_key_service(stack, pool)
    found = await reader.keys_by_id([k.kid for k in first.values()])
    nonce, key = os.urandom(12), first[ids[0]]
    sealed = key.cipher.encrypt(nonce, b"secret", b"aad")
    assert found[key.kid].cipher.decrypt(nonce, sealed, b"aad") == b"secret"
    assert found[key.kid].volunteer_id == ids[0]


async def test_keys_are_cached_so_a_batch_costs_one_query_at_most(
    stack: Settings, pool: asyncpg.Pool, unique: str
) -> None:
    """Asked again, cached keys cost no round trip; a batch of new ones costs one."""
    service = build_key_service(stack, pool)
    made = await service.keys_for([f"vc-{unique}-{n}" for n in range(100)])
    assert service.queries == 1
    await service.keys_for(list(made))
    await service.keys_by_id([k.kid for k in made.values()])
    assert service.queries == 1


async def test_a_destroyed_key_is_gone_for_every_process_and_never_made_again(
    stack: Settings, pool: asyncpg.Pool, unique: str
) -> None:
    """Destroy: no process finds the key again, and asking to make it gives nothing."""
    volunteer = f"vd-{unique}"
    service = build_key_service(stack, pool)
    kid = (await service.keys_for([volunteer]))[volunteer].kid
    assert await service.destroy(volunteer) is True
    assert await service.destroy(volunteer) is False  # already destroyed: still gone
    fresh = build_key_service(stack, pool)
    assert await fresh.keys_by_id([kid]) == {}
    assert await fresh.keys_for([volunteer]) == {}
    row = await pool.fetchrow(
        "select wrapped, destroyed_at from keys.volunteer_keys where volunteer_id = $1", volunteer
    )
    assert row["wrapped"] is None
    assert row["destroyed_at"] is not None


async def test_another_master_key_cannot_unwrap_and_says_so(
    stack: Settings, pool: asyncpg.Pool, unique: str
) -> None:
    """A key store read with the wrong master key fails loudly, never silently."""
    volunteer = f"vm-{unique}"
    kid = (await build_key_service(stack, pool).keys_for([volunteer]))[volunteer].kid
    stranger = PgKeyService(pool, MasterKey.of(os.urandom(32)))
    with pytest.raises(MasterKeyMismatch, match=kid):
        await stranger.keys_by_id([kid])
    wrapped = await pool.fetchval(
        "select wrapped from keys.volunteer_keys where volunteer_id = $1", volunteer
    )
    assert len(wrapped) == 12 + 32 + 16  # nonce, the wrapped key, the tag: never in clear
