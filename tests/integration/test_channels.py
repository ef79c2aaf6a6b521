"""Each channel of the AsyncAPI document is really produced or consumed by running code.

On a fresh topic prefix: the example event of every registered type, sent to its
canonical topic by `infra.bus.emit` (the gateway's emit, without the HTTP app in front:
the same records), a registration the notifier acts on, a sign-up whose place it
releases (an auto-release opportunity, the volunteer silent, its clock moved 9 h on), and
one undecodable record per consumed topic; then every projector of the manifest (the real runtime, its dead letters
through a FastStream publisher as `projections run` does), the notifier (`serve`, both
halves, against the local sinks) and `dlq replay`. For each channel of the document:

- `send` of the gateway: the topic holds this run's CloudEvents records
  (`content-type: application/cloudevents+json`);
- `send` of the notifier's outcomes: `notification.*` events from `platform/notifications`;
  of its released places: `volunteer.signup_withdrawn` from `platform/confirmations`;
- `send` of dead letters: records naming a projector (or the notifier) and an origin;
- `send` of the replay: records carrying `replayed_from`;
- `receive`: the topic is in that consumer's `_offsets` bookkeeping (PostgreSQL); for the
  router, its group committed offsets on an ingress topic (one partner's event, routed).

A channel documented but not used this way (say, a new publisher nothing calls) fails.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from consumers.dlq import replay
from consumers.notifications import NAME as NOTIFIER
from consumers.router import NAME as ROUTER
from consumers.runtime.deadletters import forget_publishers, original_of, use_publishers
from infra.bus import Outgoing, emit
from infra.db import connect
from infra.kafka import build_consumer, build_producer, topic_partitions
from infra.local.sinks import Sinks
from infra.settings import Settings
from infra.streams import Publishers, build_stream_broker
from schemas.examples import example
from schemas.registry import CURRENT
from schemas.topics import INGRESS_PREFIX
from tatawwu.asyncapi import asyncapi_document
from tatawwu.manifest import PROJECTORS
from tests.integration.notifications.conftest import notifier_settings, settled
from tests.integration.notifications.world import publish_events, registered, signed_up
from tests.integration.notifications.world_messages import (
    notifier_at,
    published,
    volunteer,
    wait_rows,
)
from tests.support.events import event, record
from tests.support.projectors import create_prefixed_topics, run_until_caught_up
from tests.support.router import (
    as_raw,
    committed_offsets,
    create_ingress,
    produce,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
__all__ = ["notifier_settings"]  # the fixture, shared with the notifier tests
CLOUDEVENTS = ("content-type", b"application/cloudevents+json")


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
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Send channels hold this run's records; receive channels were consumed; none idle."""
    stack, prefix = notifier_settings, f"channels.{unique}."
    await create_prefixed_topics(stack, prefix)
    consumed = {t for p in PROJECTORS.values() for t in p.topics}
    gateway = [Outgoing(*record(example(event_type), prefix)) for event_type in CURRENT]
    producer = build_producer(stack)
    await producer.start()
    try:
        await emit(producer, gateway, 30)
        await emit(producer, [Outgoing(prefix + t, b"bad", b"{undecodable") for t in consumed])
    finally:
        await producer.stop()
    # v-8 is asked to confirm a place on an auto-release opportunity and stays silent:
    # 9 h on (the notifier's clock), the place is released (the notifier's sign-ups channel).
    auto = [volunteer("v-8"), published("opp-ch", auto_release=True), signed_up("v-8", "opp-ch")]
    await publish_events(stack, prefix, [registered("v-7", language="en"), *auto])
    schemas = {name: f"ch_{name}_{unique}" for name in PROJECTORS}
    schemas[NOTIFIER] = f"ch_notifier_{unique}"
    offset = [dt.timedelta(0)]
    conn = await connect(stack)
    ledger = f'select * from "{schemas[NOTIFIER]}".outbox where template = $1'
    async with notifier_at(
        stack, prefix, schemas[NOTIFIER], lambda: dt.datetime.now(dt.UTC) + offset[0]
    ) as task:
        await wait_rows(conn, ledger, "attendance_confirmation", task=task,
                        check=lambda rows: [r["status"] for r in rows] == ["sent"])  # fmt: skip
        offset[0] = dt.timedelta(hours=9)
        await wait_rows(conn, ledger, "attendance_confirmation", task=task,
                        check=lambda rows: rows[0]["released_at"] is not None)  # fmt: skip
        await settled(conn, schemas[NOTIFIER], expected=2, task=task, held_ok=True)
    await conn.close()
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
    # The router: one partner's event on its ingress topic, routed (after the replay,
    # which it must not add origins to).
    org = f"chan-{unique}"
    [ingress] = await create_ingress(stack, prefix, [org])
    own = event("organization.registered", org_id=org, source=f"partner/{org}")
    await produce(stack, ingress, [as_raw(own)])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [ingress], 30)
    routed = await committed_offsets(stack, prefix)

    document = asyncapi_document()
    conn = await connect(stack)
    unused = []
    try:
        for operation in document["operations"].values():
            name = operation["channel"]["$ref"].rsplit("/", 1)[-1]
            topic, component = name.split(":", 1)
            if operation["action"] == "receive" and component == ROUTER:
                ok = any(tp.topic.startswith(prefix + INGRESS_PREFIX) for tp in routed)
            elif operation["action"] == "receive":
                if component not in schemas:  # a consumer this test does not run
                    unused.append(name)
                    continue
                rows = await conn.fetch(
                    f'select topic from "{schemas[component]}"._offsets where next_offset > 0'
                )
                ok = prefix + topic in {r["topic"] for r in rows}
            else:
                records = await _records(stack, prefix + topic)
                if topic.endswith("deadletter"):
                    ok = any(original_of(r.headers)[0].get("original_topic") for r in records)
                elif component == "replay":
                    ok = any(n == "replayed_from" for r in records for n, _ in r.headers)
                elif component == "notifier":  # outcomes, and places released
                    ok = any(
                        CLOUDEVENTS in r.headers
                        and (b'"platform/notifications"' in r.value
                             or b'"platform/confirmations"' in r.value)
                        for r in records
                    )  # fmt: skip
                elif component == "gateway":  # this run's CloudEvents
                    ok = any(CLOUDEVENTS in r.headers for r in records)
                else:  # a sender this test does not know: nothing here runs it
                    ok = False
            if not ok:
                unused.append(name)
    finally:
        await conn.close()
    assert unused == [], f"documented but not produced/consumed in this run: {unused}"
