"""Dead letters replayed after a fix are applied once; a second replay sends nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition

from consumers.campaigns import PROJECTOR
from consumers.dlq import replay
from consumers.runtime import ProjectorBroken, ProjectorRuntime
from consumers.runtime.deadletters import forget_publishers, original_of, use_publishers
from infra.db import connect
from infra.kafka import build_consumer, build_producer
from infra.settings import Settings
from infra.streams import Publishers, build_stream_broker
from schemas.envelope import Event
from schemas.examples import example
from schemas.topics import DEADLETTER
from tests.support.projectors import create_prefixed_topics, run_until_caught_up
from tests.support.streams import build_stream, publish_stream

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LETTER_HEADERS = {"projector", "error", "error_detail", "original_topic", "original_partition",
                  "original_offset"}  # fmt: skip
EXAMPLE_VOLUNTEER = example("volunteer.checked_out")["data"]["volunteer_id"]


async def test_a_poison_event_replayed_after_the_fix_is_applied_exactly_once(
    stack: Settings, unique: str
) -> None:
    """A bug makes apply fail for the stream's check-outs; fixed and replayed, they count once.

    The bug depends on the data (the valid example check-out still applies), so these are
    bad records to the runtime, not a bad deploy: they are dead-lettered one by one.
    """
    prefix, schema = f"dlq.{unique}.", f"dlq_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(2_000, seed=21, duplicate_share=0, invalid_share=0)
    broken = True

    async def buggy_apply(
        conn: asyncpg.Connection, events: Sequence[Event[Any]], *pre: Any
    ) -> None:
        if broken and any(
            e.type == "volunteer.checked_out" and e.data.volunteer_id != EXAMPLE_VOLUNTEER
            for e in events
        ):
            msg = "simulated bug in check-out handling"
            raise RuntimeError(msg)
        await PROJECTOR.apply(conn, events, *pre)

    projector = dataclasses.replace(PROJECTOR, apply=buggy_apply)
    await publish_stream(stack, stream, prefix)
    conn = await connect(stack)

    async def project() -> None:
        await run_until_caught_up(stack, {"campaigns": projector}, {"campaigns": schema}, prefix,
                                  group=f"g-{unique}", wait_s=60)  # fmt: skip

    try:
        await project()
        poisoned = await conn.fetchval(
            f"""select count(*) from "{schema}"._deadletters where reason = 'apply_failed'"""
        )
        checkouts = sum(1 for _, _, v in stream.records if b'"volunteer.checked_out"' in v)
        assert poisoned == checkouts > 0
        applied_before = await conn.fetchval(f'select events_applied from "{schema}"._stats')
        assert applied_before == stream.unique_valid - checkouts

        broken = False  # the fix ships
        report = await replay(stack, reason="apply_failed", topic_prefix=prefix)
        assert len(report.replayed) == checkouts
        await project()
        assert (
            await conn.fetchval(f'select events_applied from "{schema}"._stats')
            == stream.unique_valid
        )
        assert (
            await conn.fetchval(
                f'select count(*) from "{schema}".participations where checked_out_at is not null'
            )
            > 0
        )

        again = await replay(stack, reason="apply_failed", topic_prefix=prefix)
        assert again.replayed == []
        assert again.already_replayed == checkouts
    finally:
        await conn.close()


@pytest.mark.parametrize("batch", [1, 5, 500])
async def test_a_projector_failing_on_every_event_stops_instead_of_dead_lettering(
    stack: Settings, unique: str, batch: int
) -> None:
    """A bad deploy (every apply fails) halts with nothing dead-lettered, whatever the batch."""
    prefix, schema = f"broken.{unique}.", f"broken_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(300, seed=22, duplicate_share=0, invalid_share=0)

    async def broken_apply(conn: asyncpg.Connection, events: Sequence[Event[Any]], *_: Any) -> None:
        msg = 'relation "participations_v2" does not exist'
        raise RuntimeError(msg)

    await publish_stream(stack, stream, prefix)
    runtime = ProjectorRuntime(
        dataclasses.replace(PROJECTOR, apply=broken_apply), stack, schema=schema,
        group_id=f"g-{unique}", topic_prefix=prefix, max_records=batch,
    )  # fmt: skip
    conn = await connect(stack)
    try:
        await runtime.start()
        with pytest.raises(ProjectorBroken, match="participations_v2"):
            await asyncio.wait_for(runtime.run(), timeout=60)
        # The stream's one genuinely bad record (not JSON) may be dead-lettered before the
        # projector meets a record it must apply; no record that reached apply is.
        reasons = await conn.fetch(f'select distinct reason from "{schema}"._deadletters')
        assert {r["reason"] for r in reasons} <= {"invalid_json"}
        # Only records that never reach apply moved on: parked until their owner's claim
        # arrives (applied by the fixed projector then), of types it ignores, or dead.
        moved = await conn.fetchval(
            f'select coalesce(sum(next_offset), 0) from "{schema}"._offsets'
        )
        parked = await conn.fetchval(f'select count(*) from "{schema}"._parked')
        ignored = await conn.fetchval(f'select ignored from "{schema}"._stats')
        dead = await conn.fetchval(f'select count(*) from "{schema}"._deadletters')
        assert moved == parked + ignored + dead
        assert await conn.fetchval(f'select events_applied from "{schema}"._stats') == 0
    finally:
        await runtime.close()
        await conn.close()


async def _last_record(settings: Settings, topic: str, partition: int) -> Any:
    consumer = build_consumer(settings)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, end - 1)
        return await consumer.getone()
    finally:
        await consumer.stop()


async def test_a_binary_mode_record_with_raw_header_bytes_is_replayed_losslessly(
    stack: Settings, unique: str
) -> None:
    """Dead-lettered through FastStream and replayed: key, value and headers come back exact.

    A binary-mode CloudEvent keeps its event in `ce_*` headers; these also carry bytes
    that are not UTF-8 and a repeated name, which FastStream's own headers could not.
    """
    prefix, schema = f"lossless.{unique}.", f"lossless_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"bin-1"),
        ("ce_source", b"partner/acme"),
        ("ce_type", b"volunteer.signed_up"),
        ("content-type", b"application/json"),
        ("x-raw", b"\xff\xfe\x00\x80"),
        ("x-raw", b"again"),
    ]
    key, value = b"vol-lossless", b"{not json"
    producer = build_producer(stack)
    await producer.start()
    sent = await producer.send_and_wait(prefix + "tatawwu.signups", value, key=key, headers=headers)
    await producer.stop()
    publishers = Publishers(build_stream_broker(stack))
    await publishers.broker.start()
    use_publishers(publishers, prefix)
    try:
        await run_until_caught_up(stack, {"campaigns": PROJECTOR}, {"campaigns": schema}, prefix,
                                  group=f"g-{unique}", wait_s=60)  # fmt: skip
    finally:
        forget_publishers(prefix)
        await publishers.broker.stop()
    letter = await _last_record(stack, prefix + DEADLETTER.name, 0)
    own, original = original_of(letter.headers)
    assert (letter.key, letter.value, original) == (key, value, headers)
    assert own["projector"] == b"campaigns"
    # Nothing of FastStream's own (its content-type, a random correlation id): the letter's
    # headers and, in front, the bus's trace headers (with the deprecated correlation_id).
    assert set(own) <= {*LETTER_HEADERS, "traceparent", "tracestate", "correlation_id"}
    assert "correlation_id" not in own or len(own["correlation_id"]) == 32  # a W3C trace id

    report = await replay(stack, topic_prefix=prefix)
    origin = (sent.topic, sent.partition, sent.offset)
    assert report.replayed == [origin]
    again = await _last_record(stack, sent.topic, sent.partition)
    where = f"{sent.topic}/{sent.partition}@{sent.offset}".encode()
    assert (again.key, again.value) == (key, value)
    assert [(n, bytes(v)) for n, v in again.headers] == [*headers, ("replayed_from", where)]
