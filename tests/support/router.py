"""Helpers of the router tests: ingress topics under a prefix, a router run, read-backs."""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import GroupCoordinatorNotAvailableError
from aiokafka.structs import ConsumerRecord

from consumers.router.counts import group_for
from consumers.router.routing import Router
from consumers.router.service import build_router_broker
from infra import kafka
from infra.kafka import build_admin, build_consumer, build_producer, ensure_topics
from infra.settings import Settings
from schemas.topics import ingress_spec, ingress_topic
from tests.support import events

Raw = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]  # key, value, headers
# The canonical topics the example partner events (`partner_event`) are forwarded to.
FORWARDED = ("tatawwu.campaigns", "tatawwu.volunteers", "tatawwu.signups")


def forwarded_topics(prefix: str) -> list[str]:
    """`FORWARDED` under a test's topic prefix."""
    return [prefix + t for t in FORWARDED]


async def create_ingress(
    settings: Settings, prefix: str, orgs: Iterable[str], partitions: int = 1
) -> list[str]:
    """Each organisation's ingress topic under `prefix` (LogAppendTime, as in production)."""
    specs = [ingress_spec(org, partitions) for org in orgs]
    await ensure_topics(settings, [replace(s, name=prefix + s.name) for s in specs])
    return [prefix + s.name for s in specs]


def partner_event(org: str, event_type: str, n: int, unique: str, **data: Any) -> dict[str, Any]:
    """An example event of `org` (its campaign, opportunity and volunteer `n`)."""
    ids = {"org_id": org, "campaign_id": f"cmp-{org}", "opportunity_id": f"opp-{org}",
           "volunteer_id": f"vol-{org}-{n}"}  # fmt: skip
    fields = events.known_fields(event_type, {**ids, **data})
    return events.event(event_type, f"evt-{unique}-{org}-{event_type}-{n}",
                        source=f"partner/{org}", check=False, **fields)  # fmt: skip


def as_raw(document: dict[str, Any], headers: Sequence[tuple[str, bytes]] = ()) -> Raw:
    """A structured-mode record of `document`, keyed by its subject."""
    return str(document["subject"]).encode(), orjson.dumps(document), list(headers)


async def produce(settings: Settings, topic: str, records: Sequence[Raw], **options: Any) -> None:
    """Write records to a topic as a partner would (idempotent producer, all acked)."""
    producer = build_producer(settings, **options)
    await producer.start()
    try:
        futures = [
            await producer.send(topic, value, key=key, headers=headers or None)
            for key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def read_all(
    settings: Settings, topics: Iterable[str], *, committed: bool = True
) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record on the topics now, read committed (or uncommitted) from the beginning."""
    isolation = "read_committed" if committed else "read_uncommitted"
    tps = await kafka.topic_partitions(settings, topics)
    if not tps:
        return []
    consumer = build_consumer(settings, isolation_level=isolation)
    await consumer.start()
    out: list[ConsumerRecord[bytes, bytes]] = []
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)  # read_committed: the last stable offset
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(*tps, timeout_ms=1000)).values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


async def committed_offsets(settings: Settings, prefix: str) -> dict[TopicPartition, int]:
    """The router group's committed offsets."""
    admin = build_admin(settings)
    await admin.start()
    try:
        found = await admin.list_consumer_group_offsets(group_for(prefix))
    except GroupCoordinatorNotAvailableError:  # a fresh cluster: no offsets topic yet
        return {}
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in found.items() if meta.offset >= 0}


async def wait_routed(
    settings: Settings, prefix: str, topics: Sequence[str], wait_s: float
) -> None:
    """Wait until the router group committed every ingress record there is now."""
    ends = await kafka.end_offsets(settings, topics=topics)
    deadline = asyncio.get_running_loop().time() + wait_s
    while True:
        done = await committed_offsets(settings, prefix)
        behind = {tp: e for tp, e in ends.items() if e > 0 and done.get(tp, 0) < e}
        if not behind:
            return
        if asyncio.get_running_loop().time() > deadline:
            msg = f"router still behind after {wait_s}s: {behind} committed {done}"
            raise AssertionError(msg)
        await asyncio.sleep(0.2)


@asynccontextmanager
async def running_router(
    settings: Settings, prefix: str, instance_id: str = "test-1", **options: Any
) -> AsyncIterator[Router]:
    """A router in this event loop (its FastStream broker started); stopped on exit."""
    router = Router(settings, topic_prefix=prefix, instance_id=instance_id,
                    group_id=options.pop("group_id", None))  # fmt: skip
    broker = build_router_broker(settings, router, topic_prefix=prefix,
                                 instance_id=instance_id, **options)  # fmt: skip
    await router.start()
    try:
        await broker.start()
        yield router
    finally:
        with contextlib.suppress(Exception):
            await broker.stop()
        await router.close()


def ingress(org: str, prefix: str) -> str:
    """The ingress topic of `org` under `prefix`."""
    return ingress_topic(org, prefix)


@dataclass
class IngressStream:
    """Records for several partners' ingress topics, and what the router must make of them."""

    records: dict[str, list[Raw]] = field(default_factory=dict)  # org -> its records, in order
    accepted: dict[str, set[str]] = field(default_factory=dict)  # org -> event ids
    refused: dict[str, set[str]] = field(default_factory=dict)  # org -> ids refused ("source")


def ingress_stream(
    orgs: Sequence[str], unique: str, per_org: int, bad_every: int = 50
) -> IngressStream:
    """Per org: its launch and publication, then registrations and sign-ups; every
    `bad_every`-th record speaks as another organisation (refused, rule `source`)."""
    stream = IngressStream()
    template = {t: partner_event("o", t, 0, unique) for t in
                ("volunteer.registered", "volunteer.signed_up")}  # fmt: skip
    for org in orgs:
        documents = [partner_event(org, "campaign.launched", 0, unique),
                     partner_event(org, "opportunity.published", 0, unique)]  # fmt: skip
        refused: set[str] = set()
        for n in range(per_org - 2):
            kind = "volunteer.registered" if n % 2 == 0 else "volunteer.signed_up"
            document = copy.deepcopy(template[kind])
            data = document["data"]
            data["volunteer_id"] = document["subject"] = f"vol-{org}-{n // 2}"
            for name, value in (("campaign_id", f"cmp-{org}"), ("opportunity_id", f"opp-{org}")):
                if name in data:
                    data[name] = value
            document["id"] = f"evt-{unique}-{org}-{n}"
            document["source"] = f"partner/{org}"
            if n % bad_every == bad_every - 1:
                document["source"] = "partner/someone-else"
                refused.add(document["id"])
            documents.append(document)
        stream.records[org] = [as_raw(d) for d in documents]
        stream.accepted[org] = {d["id"] for d in documents} - refused
        stream.refused[org] = refused
    return stream


async def group_left(settings: Settings, group: str, wait_s: float = 45.0) -> None:
    """Until consumer group `group` has no member left (a static member, as the router's,
    sends no LeaveGroup when it stops: the broker keeps it until its session times out).
    A platform started meanwhile would take the stopped member's place under the same
    instance id and, as seen in CI, its cached assignment: one made before a partner's
    ingress topic existed, so that topic waited unrouted."""
    admin = build_admin(settings)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + wait_s
        while asyncio.get_running_loop().time() < deadline:
            [response] = await admin.describe_consumer_groups([group])
            if all(not members for *_, members in response.groups):
                return
            await asyncio.sleep(0.5)
    finally:
        await admin.close()
    msg = f"consumer group {group} still has members after {wait_s:.0f}s"
    raise AssertionError(msg)
