"""What the router remembers of its own commits, and when it must forget it: a partition
it no longer holds, a log replaced under the same name (fakes; the real broker's case is
tests/integration/router/test_router_topic_recreated.py)."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.router.routing import Router
from infra.settings import Settings

TP = TopicPartition("tatawwu.ingress.org-a", 0)
OTHER = TopicPartition("tatawwu.ingress.org-b", 0)


class Ends:
    """A consumer that knows only each partition's high watermark (`OTHER`'s is 40)."""

    def __init__(self, high: int | None) -> None:
        self.high = high

    def highwater(self, tp: TopicPartition) -> int | None:
        return self.high if tp == TP else 40


def records(tp: TopicPartition, offsets: range) -> list[ConsumerRecord]:  # type: ignore[type-arg]
    return [ConsumerRecord(tp.topic, tp.partition, o, 0, 0, b"k", b"{}", None, 1, 2, [])
            for o in offsets]  # fmt: skip


def router(high: int | None, committed: dict[TopicPartition, int]) -> Router:
    r = Router(Settings())
    r.consumer = Ends(high)
    r.committed = dict(committed)
    return r


@pytest.mark.parametrize("high", [4, 5, 40, None])
def test_records_below_what_was_committed_are_dropped_while_the_log_reaches_it(
    high: int | None,
) -> None:
    """A redelivery (a rebalance reset the position): the log still ends at or past the
    committed offset (or its end is unknown), so what was routed is not routed again."""
    r = router(high, {TP: 4})
    kept = r.unrouted(records(TP, range(2, 6)))
    assert [rec.offset for rec in kept] == [4, 5]
    assert r.committed == {TP: 4}


@pytest.mark.parametrize(("high", "offsets"), [(2, range(2)), (3, range(1, 3)), (0, range(0))])
def test_a_log_ending_before_what_was_committed_is_another_log(high: int, offsets: range) -> None:
    """A log never shrinks: ending before the committed offset, it is a new topic under
    the old name. Its records are all kept, and the old offset forgotten (others kept)."""
    r = router(high, {TP: 4, OTHER: 7})
    kept = r.unrouted(records(TP, offsets) + records(OTHER, range(6, 9)))
    assert [(rec.topic, rec.offset) for rec in kept] == [
        *((TP.topic, o) for o in offsets), (OTHER.topic, 7), (OTHER.topic, 8),
    ]  # fmt: skip
    assert r.committed == ({OTHER: 7} if offsets else {TP: 4, OTHER: 7})


def test_partitions_no_longer_held_are_forgotten_and_held_ones_kept() -> None:
    r = router(None, {TP: 4, OTHER: 7})
    r.assigned({TP})
    assert r.committed == {TP: 4}
    r.assigned(set())
    assert r.committed == {}
    assert [rec.offset for rec in r.unrouted(records(TP, range(3)))] == [0, 1, 2]


async def test_revoking_waits_for_the_transaction_in_flight() -> None:
    """Its offsets must be the group's before the partitions change hands."""
    r = router(None, {})
    done = asyncio.Event()

    async def commit() -> None:
        await asyncio.sleep(0.05)
        r.committed[TP] = 9
        done.set()

    r.inflight = asyncio.create_task(commit())
    await r.revoking()
    assert done.is_set()
    assert r.inflight is not None  # still there: the next batch's `settle` reads its outcome
    await r.revoking()  # and a finished one is no wait
