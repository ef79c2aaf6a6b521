"""Each channel of the AsyncAPI document is really produced or consumed by running code.

On a fresh topic prefix: example events of every registered type on their canonical
topics (standing in for the gateway, which writes them with the same `infra.bus`
records), one undecodable record per consumed topic; every projector of the manifest run
by the real runtime with its FastStream dead-letter publisher; then `dlq replay`. For
each channel: a `send` operation's topic holds records from this run (dead letters naming
a projector, replays carrying `replayed_from`); a `receive` operation's topic is in that
component's `_offsets` bookkeeping. Channels of the notifier are not run here yet
(`NOT_RUN`); any other channel documented but unused fails the test.
"""

from __future__ import annotations

from typing import Any

import pytest

from consumers.dlq import replay
from consumers.runtime.deadletters import forget_publishers, original_of, use_publishers
from infra.db import connect
from infra.kafka import build_consumer, build_producer, topic_partitions
from infra.settings import Settings
from infra.streams import Publishers, build_stream_broker
from schemas.examples import example
from schemas.registry import CURRENT
from tatawwu.asyncapi import asyncapi_document
from tatawwu.manifest import PROJECTORS
from tests.support.events import record
from tests.support.projectors import create_prefixed_topics, run_until_caught_up

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
NOT_RUN = {"notifications", "publish"}  # the notifier's channels: outcomes are its "publish"


async def _records(settings: Settings, topic: str) -> list[Any]:
    """Every record on `topic` now."""
    tps = await topic_partitions(settings, [topic])
    consumer = build_consumer(settings)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[Any] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for batch in (await consumer.getmany(*tps, timeout_ms=2000)).values():
                out += batch
        return out
    finally:
        await consumer.stop()


async def test_every_documented_channel_is_produced_or_consumed(
    stack: Settings, unique: str
) -> None:
    """Send channels hold this run's records; receive channels were consumed; none idle."""
    prefix = f"channels.{unique}."
    await create_prefixed_topics(stack, prefix)
    producer = build_producer(stack)
    await producer.start()
    consumed = {t for p in PROJECTORS.values() for t in p.topics}
    for event_type in CURRENT:
        topic, key, value = record(example(event_type), prefix)
        await producer.send_and_wait(topic, value, key=key)
    for topic in consumed:
        await producer.send_and_wait(prefix + topic, b"{undecodable", key=b"bad")
    await producer.stop()
    schemas = {name: f"ch_{name}_{unique}" for name in PROJECTORS}
    publishers = Publishers(build_stream_broker(stack))
    await publishers.broker.start()
    use_publishers(publishers, prefix)
    try:
        await run_until_caught_up(stack, dict(PROJECTORS), schemas, prefix,
                                  group=f"g-{unique}", wait_s=90)  # fmt: skip
    finally:
        forget_publishers(prefix)
        await publishers.broker.stop()
    report = await replay(stack, topic_prefix=prefix)
    assert {o[0] for o in report.replayed} == {prefix + t for t in consumed}

    document = asyncapi_document()
    conn = await connect(stack)
    unused = []
    try:
        for operation in document["operations"].values():
            name = operation["channel"]["$ref"].rsplit("/", 1)[-1]
            topic, component = name.split(":", 1)
            if component in NOT_RUN:
                continue
            if operation["action"] == "receive":
                rows = await conn.fetch(
                    f'select topic from "{schemas[component]}"._offsets where next_offset > 0'
                )
                ok = prefix + topic in {r["topic"] for r in rows}
            else:
                records = await _records(stack, prefix + topic)
                if topic.endswith("deadletter"):
                    ok = any(original_of(r.headers)[0].get("projector") for r in records)
                elif component == "replay":
                    ok = any(n == "replayed_from" for r in records for n, _ in r.headers)
                else:  # the gateway's topics: this run's events
                    ok = bool(records)
            if not ok:
                unused.append(name)
    finally:
        await conn.close()
    assert unused == [], f"documented but not produced/consumed in this run: {unused}"
