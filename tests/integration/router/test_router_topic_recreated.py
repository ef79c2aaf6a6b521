"""A partner's ingress topic deleted and made again while the router runs: the new log
starts again at offset 0, and none of its records may be taken for ones already routed
(the router remembers the offsets it committed, `Router.unrouted`)."""

from __future__ import annotations

import asyncio

import orjson
import pytest
from aiokafka.errors import TopicAlreadyExistsError

from consumers.router.service import METADATA_MAX_AGE_MS
from infra.settings import Settings
from tests.support.projectors import delete_topics
from tests.support.router import (
    as_raw,
    create_ingress,
    forwarded_topics,
    partner_event,
    produce,
    read_all,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _recreate(settings: Settings, prefix: str, org: str) -> None:
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        try:
            await create_ingress(settings, prefix, [org])
            return
        except TopicAlreadyExistsError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.5)


async def _made_again(stack: Settings, prefix: str, unique: str, before: int, after: int) -> None:
    """`before` registrations routed, the topic deleted and made again (the router sees
    it go: one metadata refresh), `after` more written to the new log: all forwarded."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    first = [partner_event(org, "volunteer.registered", n, unique) for n in range(before)]
    later = [partner_event(org, "volunteer.registered", n, unique)
             for n in range(before, before + after)]  # fmt: skip
    async with running_router(stack, prefix):
        await produce(stack, topic, [as_raw(d) for d in first])
        await wait_routed(stack, prefix, [topic], 30)
        await delete_topics(stack, topic)  # the topic's name: a prefix of itself alone
        await asyncio.sleep(METADATA_MAX_AGE_MS / 1000 * 2)
        await _recreate(stack, prefix, org)
        await produce(stack, topic, [as_raw(d) for d in later])
        expected = sorted(d["id"] for d in first + later)
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            forwarded = await read_all(stack, forwarded_topics(prefix))
            ids = sorted(orjson.loads(r.value)["id"] for r in forwarded)
            if len(ids) >= len(expected) or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.5)
    assert ids == expected


async def test_a_new_log_shorter_than_the_old_is_forwarded_whole(
    stack: Settings, prefix: str, unique: str
) -> None:
    """Its end is before what was committed of the old log: seen as another log."""
    await _made_again(stack, prefix, unique, before=4, after=2)


async def test_a_new_log_longer_than_the_old_is_forwarded_whole(
    stack: Settings, prefix: str, unique: str
) -> None:
    """Its end is past the old commit: only the partition's loss (a rebalance) tells."""
    await _made_again(stack, prefix, unique, before=2, after=5)
