"""One partner's oversized record can neither stall the router nor reach a canonical topic.

A dead letter carries the whole original record plus headers saying why: if a partner
could write a record as large as the broker's own limit, its dead letter would not fit,
the router's transaction would fail on it forever, and every partner behind it would
wait. Ingress topics therefore take records up to `INGRESS_MAX_RECORD_BYTES` (the broker
refuses larger ones to the partner at once), and any record that fits is dead-lettered.
"""

from __future__ import annotations

import pytest
from aiokafka.errors import MessageSizeTooLargeError

from consumers.dlq import open_letters, read_dead_letters
from infra.settings import Settings
from schemas.topics import DEADLETTER, INGRESS_MAX_RECORD_BYTES
from tests.support.router import (
    as_raw,
    create_ingress,
    partner_event,
    produce,
    read_all,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
HEADERS = [("x-partner-trace", b"v" * 200)]


async def test_a_record_over_the_ingress_limit_is_refused_to_the_partner(
    stack: Settings, prefix: str
) -> None:
    [topic] = await create_ingress(stack, prefix, ["org-big"])
    over = b"x" * (INGRESS_MAX_RECORD_BYTES + 1000)
    with pytest.raises(MessageSizeTooLargeError):
        await produce(stack, topic, [(b"k", over, [])], max_request_size=2_000_000)


async def test_the_largest_record_a_partner_may_write_is_dead_lettered_and_the_next_routed(
    stack: Settings, prefix: str, unique: str
) -> None:
    org = "org-big"
    [topic] = await create_ingress(stack, prefix, [org])
    # As large as the topic takes (a record batch's overhead aside), with headers.
    largest = b"x" * (INGRESS_MAX_RECORD_BYTES - 600)
    await produce(stack, topic, [(b"k", largest, HEADERS)], max_request_size=2_000_000)
    launch = partner_event(org, "campaign.launched", 0, unique)
    await produce(stack, topic, [as_raw(launch)])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 60)
    [dead] = await read_all(stack, [prefix + DEADLETTER.name])
    # Not JSON, keyed by an id: sealed with that id's key and the day's (+56 bytes); it fits.
    assert dict(dead.headers)["value_sealed"] == b"volunteer+platform"
    [(_, _, _, opened, _)], _ = await open_letters(
        stack, await read_dead_letters(stack, prefix + DEADLETTER.name)
    )
    assert opened == largest
    assert dict(dead.headers)["original_topic"] == topic.encode()
    forwarded = await read_all(stack, [prefix + "tatawwu.campaigns"])
    assert [r.key for r in forwarded] == [launch["subject"].encode()]
