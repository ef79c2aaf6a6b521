"""A commit PostgreSQL loses in a crash loses no claim (projector commits are asynchronous).

With `synchronous_commit=off` a crash can drop a projector's last commits: offsets, read
model rows and the claims the batch stored, all together. Kafka redelivers the batch; the
claim must then be stored again. A claims cache that still held it (learnt from the lost
commit) would take it as stored, and every fact parked for that claim would wait forever.
"""

from __future__ import annotations

import pytest
from aiokafka.structs import ConsumerRecord

from consumers.campaigns import PROJECTOR
from consumers.runtime import ProjectorRuntime
from infra.claims import registry_schema
from infra.db import connect
from infra.settings import Settings
from tests.support.events import event, record
from tests.support.projectors import create_prefixed_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def consumer_record(document: dict, prefix: str, offset: int) -> ConsumerRecord:
    topic, key, value = record(document, prefix)
    return ConsumerRecord(topic, 0, offset, 0, 0, key, value, None, len(key), len(value), ())


async def test_a_claim_lost_with_its_commit_is_stored_again_when_the_batch_is_redelivered(
    stack: Settings, unique: str
) -> None:
    prefix, schema, group = f"lost.{unique}.", f"lost_campaigns_{unique}", f"lost-{unique}"
    registry = registry_schema(prefix)
    await create_prefixed_topics(stack, prefix)
    launch = event("campaign.launched", f"launch-{unique}")
    campaign_id = launch["data"]["campaign_id"]
    batch = [consumer_record(launch, prefix, 0)]
    runtime = ProjectorRuntime(PROJECTOR, stack, schema=schema, group_id=group, topic_prefix=prefix)
    await runtime.start()
    conn = await connect(stack)
    try:
        first = await runtime.process(batch)
        assert first.applied == 1
        claims = f'select owner from "{registry}".claims where kind = $1 and id = $2'
        assert await conn.fetchval(claims, "campaign", campaign_id) is not None

        # The crash: the commit is gone (claim, identity, offsets), and every connection of
        # the projector is broken, as a PostgreSQL restart leaves them.
        await conn.execute(f'delete from "{registry}".claims where id = $1', campaign_id)
        await conn.execute(f'delete from "{schema}"._events')
        await conn.execute(f'update "{schema}"._offsets set next_offset = 0')
        await conn.execute(f'delete from "{schema}".campaigns')
        await conn.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1",
            group,
        )

        # Kafka redelivers the batch; the runtime retries a batch that met a dead connection.
        for _ in range(3):
            try:
                again = await runtime.process(batch)
                break
            except Exception:  # the first use of a broken connection fails
                continue
        else:
            pytest.fail("the redelivered batch never applied")
        assert again.applied == 1
        assert await conn.fetchval(claims, "campaign", campaign_id) is not None, (
            "the redelivered launch did not store its lost claim again"
        )
    finally:
        await conn.close()
        await runtime.close()
