"""The router's failure path with fakes: rewind, settle from the group's offsets, no resend."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.router import service
from consumers.router.plan import Outcome
from consumers.router.service import Router
from infra.settings import Settings
from tests.support.router import partner_event

TOPIC = "tatawwu.ingress.org-a"
TP = TopicPartition(TOPIC, 0)


class FakeConsumer:
    """What the router asks of the subscriber's consumer: assignment, seek, committed."""

    def __init__(self, committed: int | None) -> None:
        self.group_offset = committed
        self.seeks: list[tuple[TopicPartition, int]] = []

    def assignment(self) -> set[TopicPartition]:
        return {TP}

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks.append((tp, offset))

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.group_offset

    def highwater(self, tp: TopicPartition) -> int:
        return 100


class FakeTransactor:
    def __init__(self) -> None:
        self.abandoned = self.started = 0

    async def abandon(self) -> None:
        self.abandoned += 1

    async def ensure_started(self) -> None:
        self.started += 1


def records(first: int, count: int) -> list[Any]:
    value = orjson.dumps(partner_event("org-a", "campaign.launched", 0, "u"))
    return [ConsumerRecord(TOPIC, 0, o, 0, 1, b"k", value, None, 1, 1, ())
            for o in range(first, first + count)]  # fmt: skip


def router(consumer: FakeConsumer, routed: list[list[int]], fail: list[bool]) -> Router:
    r = Router(Settings())
    r.consumer = consumer
    r.transactor = FakeTransactor()  # type: ignore[assignment]

    async def route(batch: list[Any]) -> Outcome:
        routed.append([rec.offset for rec in batch])
        if fail and fail.pop(0):
            msg = "commit answer lost"
            raise TimeoutError(msg)
        return Outcome(offsets={TP: batch[-1].offset + 1})

    r.route = route  # type: ignore[method-assign]
    return r


async def test_a_failed_batch_is_read_again_from_where_it_began(monkeypatch: Any) -> None:
    """Abort: seek to the batch's first offset, drop the producer; the retry sends it all
    when the group's offset did not move (the transaction was aborted)."""
    monkeypatch.setattr(service, "MAX_BACKOFF_S", 0)
    consumer, routed = FakeConsumer(committed=10), []
    r = router(consumer, routed, fail=[True])
    await r.handle(records(10, 5))
    assert consumer.seeks == [(TP, 10)]
    assert r.transactor.abandoned == 1  # type: ignore[attr-defined]
    await r.handle(records(10, 5))
    assert routed == [[10, 11, 12, 13, 14], [10, 11, 12, 13, 14]]
    assert r.transactor.started == 1  # type: ignore[attr-defined]
    assert r.committed == {TP: 15}


async def test_records_a_lost_answer_commit_did_forward_are_not_sent_again(
    monkeypatch: Any,
) -> None:
    """The commit happened though its answer was lost: the group's offset moved, so the
    records read again below it are dropped, the rest routed."""
    monkeypatch.setattr(service, "MAX_BACKOFF_S", 0)
    consumer, routed = FakeConsumer(committed=None), []
    r = router(consumer, routed, fail=[True])
    await r.handle(records(0, 5))
    consumer.group_offset = 5  # what the broker committed, after all
    await r.handle(records(0, 8))
    assert routed == [[0, 1, 2, 3, 4], [5, 6, 7]]
    assert r.committed == {TP: 8}


async def test_records_below_what_this_process_committed_are_dropped() -> None:
    """A rebalance resets positions to offsets read before the last commit: no resend."""
    consumer, routed = FakeConsumer(committed=None), []
    r = router(consumer, routed, fail=[])
    await r.handle(records(0, 5))
    await r.handle(records(3, 4))
    assert routed == [[0, 1, 2, 3, 4], [5, 6]]
