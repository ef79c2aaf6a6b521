"""The router's failure path with fakes: rewind, settle from the group's offsets, no resend."""

from __future__ import annotations

from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.router import routing
from consumers.router.plan import Outcome
from consumers.router.routing import Router
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

    async def position(self, tp: TopicPartition) -> int:
        raise KeyError(tp)  # unknown: the batch's last offset + 1 counts


class FakeTransactor:
    """Commits (or fails, as scripted) the offsets it is given; counts its restarts."""

    def __init__(self, fail: list[bool], routed: list[list[int]]) -> None:
        self.fail, self.routed = fail, routed
        self.abandoned = self.started = 0

    async def commit(self, sends: Any, offsets: Any, *before: Any) -> None:
        if self.fail and self.fail.pop(0):
            msg = "commit answer lost"
            raise TimeoutError(msg)

    async def abandon(self) -> None:
        self.abandoned += 1

    async def ensure_started(self) -> None:
        self.started += 1


class FakeAdmission:
    async def store(self, claims: Any) -> None:
        return None


def records(first: int, count: int) -> list[Any]:
    value = orjson.dumps(partner_event("org-a", "campaign.launched", 0, "u"))
    return [ConsumerRecord(TOPIC, 0, o, 0, 1, b"k", value, None, 1, 1, ())
            for o in range(first, first + count)]  # fmt: skip


def router(consumer: FakeConsumer, routed: list[list[int]], fail: list[bool]) -> Router:
    r = Router(Settings())
    r.consumer = consumer
    r.transactor = FakeTransactor(fail, routed)  # type: ignore[assignment]
    r.admission = FakeAdmission()  # type: ignore[assignment]

    async def judge(batch: list[Any], decoded: Any, positions: Any) -> tuple[Outcome, Any]:
        routed.append([rec.offset for rec in batch])
        return Outcome(offsets={TP: batch[-1].offset + 1}), {}

    r.judge = judge  # type: ignore[method-assign]
    r.counter = lambda out: None  # type: ignore[method-assign, assignment, return-value]
    return r


async def test_a_failed_batch_is_read_again_from_where_it_began(monkeypatch: Any) -> None:
    """Abort: seek to the batch's first offset, drop the producer; the retry sends it all
    when the group's offset did not move (the transaction was aborted)."""
    monkeypatch.setattr(routing, "MAX_BACKOFF_S", 0)
    consumer, routed = FakeConsumer(committed=10), []
    r = router(consumer, routed, fail=[True])
    await r.handle(records(10, 5))
    await r.handle(records(10, 5))  # read again (the failed transaction's rewind)
    assert consumer.seeks[-1] == (TP, 10)
    assert r.transactor.abandoned == 1  # type: ignore[attr-defined]
    await r.handle(records(10, 5))
    await r.settle()
    assert routed == [[10, 11, 12, 13, 14], [10, 11, 12, 13, 14]]
    assert r.transactor.started == 1  # type: ignore[attr-defined]
    assert r.committed == {TP: 15}


async def test_records_a_lost_answer_commit_did_forward_are_not_sent_again(
    monkeypatch: Any,
) -> None:
    """The commit happened though its answer was lost: the group's offset moved, so the
    records read again below it are dropped, the rest routed."""
    monkeypatch.setattr(routing, "MAX_BACKOFF_S", 0)
    consumer, routed = FakeConsumer(committed=None), []
    r = router(consumer, routed, fail=[True])
    await r.handle(records(0, 5))
    consumer.group_offset = 5  # what the broker committed, after all
    await r.handle(records(0, 5))  # learns of the failure: aborts, rewinds
    await r.handle(records(0, 8))
    await r.settle()
    assert routed == [[0, 1, 2, 3, 4], [5, 6, 7]]
    assert r.committed == {TP: 8}


async def test_records_below_what_this_process_committed_are_dropped() -> None:
    """A rebalance resets positions to offsets read before the last commit: no resend."""
    consumer, routed = FakeConsumer(committed=None), []
    r = router(consumer, routed, fail=[])
    await r.handle(records(0, 5))
    await r.handle(records(3, 4))  # offsets 3, 4 were in the batch still committing
    await r.settle()
    assert routed == [[0, 1, 2, 3, 4], [5, 6]]


async def test_the_next_batch_is_decoded_while_the_previous_commits_and_judged_after() -> None:
    """Two batches in a row: the second's judging waits for the first's transaction."""
    consumer, routed = FakeConsumer(committed=None), []
    r = router(consumer, routed, fail=[])
    await r.handle(records(0, 5))
    assert r.inflight is not None  # not awaited by the handler
    await r.handle(records(5, 5))
    assert r.committed == {TP: 5}  # the first committed before the second was judged
    await r.settle()
    assert r.committed == {TP: 10}
