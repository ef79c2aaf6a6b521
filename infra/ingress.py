"""Ingress records the router has forwarded, deleted from the partners' ingress topics.

Partners write plain JSON, personal fields in clear, to `tatawwu.ingress.<org>`; the router
forwards each record to the canonical topics (sealed there) or to the dead letters (sealed
too), and commits its position in its transactions. Past that position a record has no
further use, yet it would stay readable for the topic's retention (7 days by default):
`forget_routed` deletes every record below the router group's committed offset (Kafka
DeleteRecords, which moves the partition's start), so a partner's record in clear lives
until it is routed, not for days. The router runs it every `retention_interval_s`, and an
erasure runs it at once (`infra.erasure`), so an erased volunteer's routed records are
gone from the ingress topics too. Records not yet routed stay until they are.

Safe at any time and repeatable: the router never reads below its committed offset, and
DeleteRecords to an offset already passed changes nothing.
"""

from __future__ import annotations

import asyncio

import structlog
from aiokafka import TopicPartition
from aiokafka.admin import RecordsToDelete

from infra.kafka import build_admin
from infra.periodic import every
from infra.settings import Settings
from schemas.topics import INGRESS_PREFIX

log = structlog.get_logger(__name__)
ROUTER_GROUP = "tatawwu-router"  # the router's consumer group (prefixed in tests)


async def forget_routed(settings: Settings, topic_prefix: str = "") -> dict[TopicPartition, int]:
    """Delete the records the router has committed past; each ingress partition's new start."""
    admin = build_admin(settings)
    await admin.start()
    try:
        head = topic_prefix + INGRESS_PREFIX
        topics = {t for t in await admin.list_topics() if t.startswith(head)}
        if not topics:
            return {}
        committed = await admin.list_consumer_group_offsets(topic_prefix + ROUTER_GROUP)
        todo = {
            tp: RecordsToDelete(meta.offset)
            for tp, meta in committed.items()
            if tp.topic in topics and meta.offset > 0
        }
        return await admin.delete_records(todo) if todo else {}
    finally:
        await admin.close()


async def run_forgetting(
    settings: Settings, interval_s: float, stopping: asyncio.Event, topic_prefix: str = ""
) -> None:
    """`forget_routed` every `interval_s` until `stopping` (the router runs it)."""

    async def forget() -> None:
        starts = await forget_routed(settings, topic_prefix)
        log.info("ingress_routed_forgotten", partitions=len(starts))

    await every(interval_s, stopping, forget, "ingress_forget_failed", at_start=False)
