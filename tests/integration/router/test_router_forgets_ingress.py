"""Routed ingress records are deleted (infra/ingress.py), unrouted ones stay, nothing is lost.

Partners write personal data in clear to their ingress topics; once the router has
forwarded a record (sealed on the canonical topics), the ingress copy has no use left and
`forget_routed` deletes it (DeleteRecords below the router group's committed offset).
Against the real broker: a router routes a first batch; forgetting deletes exactly those
records (the `router` principal's right to: test_kafka_acls.py); records written
after stay until routed; the router goes on from where it was, and every event reaches
its canonical topic once.
"""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition

from infra.ingress import forget_routed
from infra.settings import Settings
from tests.support.router import (
    as_raw,
    committed_offsets,
    create_ingress,
    partner_event,
    produce,
    read_all,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def registrations(org: str, unique: str, first: int, count: int) -> list[dict]:
    return [partner_event(org, "volunteer.registered", n, unique)
            for n in range(first, first + count)]  # fmt: skip


async def test_routed_records_are_deleted_and_the_rest_stay(
    stack: Settings, prefix: str, unique: str
) -> None:
    """Forget after routing 30: the ingress topic starts at 30; 20 more written and routed
    later are forgotten in their turn; each of the 50 is on the canonical topic once."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    tp = TopicPartition(topic, 0)
    await produce(stack, topic, [as_raw(d) for d in registrations(org, unique, 0, 30)])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 60)
    assert (await committed_offsets(stack, prefix))[tp] == 30

    assert await forget_routed(stack, prefix) == {tp: 30}
    assert await read_all(stack, [topic]) == []  # the routed records are gone
    await produce(stack, topic, [as_raw(d) for d in registrations(org, unique, 30, 20)])
    assert await forget_routed(stack, prefix) == {tp: 30}  # not routed yet: they stay
    assert len(await read_all(stack, [topic])) == 20

    async with running_router(stack, prefix):  # resumes past the deleted records
        await wait_routed(stack, prefix, [topic], 60)
    assert await forget_routed(stack, prefix) == {tp: 50}
    assert await read_all(stack, [topic]) == []
    routed = await read_all(stack, [prefix + "tatawwu.volunteers"])
    subjects = sorted(r.key.decode() for r in routed)
    assert subjects == sorted(f"vol-{org}-{n}" for n in range(50))  # each once, none lost


async def test_nothing_to_forget_without_ingress_topics(stack: Settings, prefix: str) -> None:
    """No ingress topic under the prefix, no router offsets: nothing asked, nothing done."""
    assert await forget_routed(stack, prefix) == {}
