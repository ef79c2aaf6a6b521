"""The router against the real broker and PostgreSQL: forwards, refuses, counts, aborts."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import Counter

import orjson
import pytest

from consumers.campaigns import PROJECTOR as CAMPAIGNS
from consumers.dlq import replay
from consumers.router import router_status
from consumers.router.counts import schema_for
from consumers.status import dead_letters
from infra.bus import record_of
from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from schemas.decode import decode_event, encode_event
from schemas.topics import DEADLETTER
from tests.support.personal import opened
from tests.support.projectors import run_until_caught_up
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

TRACE = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def honest(org: str, unique: str) -> list[dict]:
    """A launch, a publication, a registration and a sign-up: all `org`'s own."""
    return [
        partner_event(org, "campaign.launched", 0, unique),
        partner_event(org, "opportunity.published", 0, unique),
        partner_event(org, "volunteer.registered", 0, unique),
        partner_event(org, "volunteer.signed_up", 0, unique),
    ]


async def test_accepted_events_land_once_as_the_gateway_writes_them(
    stack: Settings, prefix: str, unique: str
) -> None:
    """Each accepted event is one record on its canonical topic: the gateway's key, value
    and headers, with the ingress record's traceparent; the counts say so."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    documents = honest(org, unique)
    await produce(stack, topic, [as_raw(d, [("traceparent", TRACE)]) for d in documents])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 30)
    forwarded = await read_all(stack, forwarded_topics(prefix))
    assert Counter(orjson.loads(r.value)["id"] for r in forwarded) == Counter(
        d["id"] for d in documents
    )
    by_id = {orjson.loads(r.value)["id"]: r for r in forwarded}
    for document in documents:
        event = decode_event(orjson.dumps(document))
        topic_name, key, value, headers = record_of(event, [("traceparent", TRACE)])
        got = by_id[document["id"]]
        # Personal fields travel encrypted (tests/integration/router/test_router_personal.py):
        # opened, the record is the gateway's, byte for byte.
        got_value = encode_event(await opened(stack, got))
        assert (got.topic, got.key, got_value) == (prefix + topic_name, key, value)
        assert [(n, bytes(v)) for n, v in got.headers] == headers
    assert await read_all(stack, [prefix + DEADLETTER.name]) == []
    [status] = await router_status(stack, prefix)
    assert status == {"org": org, "topic": topic, "end_offset": 4, "committed": 4, "lag": 0, "exists": True,
                      "accepted": 4, "refused": {}}  # fmt: skip


async def test_every_refusal_rule_is_dead_lettered_with_its_rule_and_counted(
    stack: Settings, prefix: str, unique: str
) -> None:
    """Bad source, another org's campaign, unknown opportunity, invalid JSON, schema error,
    time in the future: each a dead letter naming the rule, and counted; replayed after a
    fix, the unknown-opportunity record is judged again and forwarded."""
    org, other = f"org-{unique}", f"other-{unique}"
    topic, other_topic = await create_ingress(stack, prefix, [org, other])
    await produce(
        stack, other_topic, [as_raw(partner_event(other, "campaign.launched", 0, unique))]
    )
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    launched = partner_event(org, "campaign.launched", 0, unique)
    bad = {
        "source": partner_event(org, "volunteer.registered", 1, unique, envelope=None)
        | {"source": f"partner/{other}"},
        "campaign_owner": partner_event(org, "campaign.updated", 2, unique,
                                        campaign_id=f"cmp-{other}"),
        "unknown_opportunity": partner_event(org, "volunteer.signed_up", 3, unique),
        "time_in_future": partner_event(org, "volunteer.registered", 4, unique)
        | {"time": future.isoformat().replace("+00:00", "Z")},
    }  # fmt: skip
    schema_error = partner_event(org, "volunteer.registered", 5, unique)
    del schema_error["data"]["volunteer_id"]
    raws = [as_raw(launched), *(as_raw(d) for d in bad.values()), as_raw(schema_error),
            (b"k", b"{not json", [])]  # fmt: skip
    await produce(stack, topic, raws)
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic, other_topic], 30)
        letters = await read_all(stack, [prefix + DEADLETTER.name])
        heads = [{n: bytes(v) for n, v in r.headers} for r in letters]
        rules = {h["error"].decode(): h for h in heads}
        assert set(rules) == {*bad, "invalid_event", "invalid_json"}
        assert all(h["projector"] == b"router" for h in heads)
        assert all(h["original_topic"] == topic.encode() for h in heads)
        offsets = sorted(int(h["original_offset"]) for h in heads)
        assert offsets == list(range(1, 7))
        assert b"cmp-" not in rules["campaign_owner"]["error_detail"]  # no value quoted
        [mine, theirs] = sorted(await router_status(stack, prefix), key=lambda s: s["org"] != org)
        assert mine["accepted"] == 1
        assert mine["refused"] == dict.fromkeys([*bad, "invalid_event", "invalid_json"], 1)
        assert theirs["accepted"] == 1
        listed = await dead_letters(stack, 50, [schema_for(prefix)])  # `tatawwu dlq list`
        assert sorted(d["reason"] for d in listed) == sorted(rules)

        # The fix: the opportunity is published; then the dead letter is replayed.
        await produce(
            stack, topic, [as_raw(partner_event(org, "opportunity.published", 0, unique))]
        )
        report = await replay(stack, reason="unknown_opportunity", topic_prefix=prefix)
        assert len(report.replayed) == 1
        await wait_routed(stack, prefix, [topic], 30)
    forwarded = await read_all(stack, [prefix + "tatawwu.signups"])
    assert [orjson.loads(r.value)["id"] for r in forwarded] == [bad["unknown_opportunity"]["id"]]
    [mine, _] = sorted(await router_status(stack, prefix), key=lambda s: s["org"] != org)
    assert mine["accepted"] == 3  # the launch, the publication, the replayed sign-up


async def test_a_projector_catches_up_on_what_the_router_forwarded(
    stack: Settings, prefix: str, unique: str
) -> None:
    """The campaigns projector applies the forwarded facts and reaches the topics' end,
    transaction markers included (`consumers.runtime.markers`)."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    await produce(stack, topic, [as_raw(d) for d in honest(org, unique)])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 30)
    schema = f"rtc_{unique}"
    try:
        await run_until_caught_up(stack, {"campaigns": CAMPAIGNS}, {"campaigns": schema}, prefix,
                                  group=f"g{unique}", wait_s=60)  # fmt: skip
    finally:
        conn = await connect(stack)
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()


async def test_a_read_committed_consumer_never_sees_an_aborted_transaction(
    stack: Settings, prefix: str, unique: str
) -> None:
    """A failure after the sends aborts the batch; it is read again and forwarded once."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    documents = honest(org, unique)
    await produce(stack, topic, [as_raw(d) for d in documents])
    failures = []

    def fail_once() -> None:
        if not failures:
            failures.append(1)
            msg = "injected after the sends"
            raise RuntimeError(msg)

    async with running_router(stack, prefix) as router:
        router.transactor.before_commit_hook = fail_once
        await wait_routed(stack, prefix, [topic], 30)
        hook = router.transactor.before_commit_hook
    assert failures == [1]
    assert hook is not None
    topics = forwarded_topics(prefix)
    committed = [orjson.loads(r.value)["id"] for r in await read_all(stack, topics)]
    assert Counter(committed) == Counter(d["id"] for d in documents)
    everything = await read_all(stack, topics, committed=False)
    # The aborted attempt's records are in the log (the uncommitted reader sees them twice).
    assert Counter(orjson.loads(r.value)["id"] for r in everything) == Counter(
        d["id"] for d in documents for _ in range(2)
    )


async def test_a_new_partners_topic_is_routed_within_seconds(
    stack: Settings, prefix: str, unique: str
) -> None:
    """An ingress topic created while the router runs is subscribed by its pattern."""
    first, later = f"org-{unique}", f"late-{unique}"
    [topic] = await create_ingress(stack, prefix, [first])
    async with running_router(stack, prefix):
        await produce(stack, topic, [as_raw(honest(first, unique)[0])])
        await wait_routed(stack, prefix, [topic], 15)
        [late_topic] = await create_ingress(stack, prefix, [later])
        await produce(stack, late_topic, [as_raw(d) for d in honest(later, unique)])
        began = asyncio.get_running_loop().time()
        await wait_routed(stack, prefix, [late_topic], 15)
        waited = asyncio.get_running_loop().time() - began
    assert waited < 10
    forwarded = await read_all(stack, forwarded_topics(prefix))
    assert len(forwarded) == 5


async def test_a_partners_aborted_transaction_is_not_forwarded_and_its_lag_reaches_zero(
    stack: Settings, prefix: str, unique: str
) -> None:
    """A partner writing with transactions: its aborted records are never judged; the
    router commits past its transaction markers, so the ingress lag is 0."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    launch, published, registered, signed_up = honest(org, unique)
    producer = build_producer(stack, transactional_id=f"partner-{unique}")
    await producer.start()
    try:
        for documents, commit in (([launch, published], True), ([registered], False),
                                  ([signed_up], True)):  # fmt: skip
            async with contextlib.AsyncExitStack() as stack_:
                await producer.begin_transaction()
                stack_.push_async_callback(
                    producer.commit_transaction if commit else producer.abort_transaction
                )
                for key, value, _ in [as_raw(d) for d in documents]:
                    await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 30)  # the end: past the last marker
    forwarded = await read_all(stack, forwarded_topics(prefix))
    assert sorted(orjson.loads(r.value)["id"] for r in forwarded) == sorted(
        d["id"] for d in (launch, published, signed_up)
    )
    [status] = await router_status(stack, prefix)
    assert (status["lag"], status["accepted"], status["refused"]) == (0, 3, {})
