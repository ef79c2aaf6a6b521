"""The decoded batch, the one apply signature, and the pure record helpers of the runtime."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from hypothesis import given
from hypothesis import strategies as st

from consumers.runtime import Projector, applier
from consumers.runtime.batch import DecodedBatch, decode, group, identity
from consumers.runtime.records import entered, entry_order, origin, record_from_json, record_json
from schemas.decode import decode_event
from schemas.examples import example

SIGNUPS = "tatawwu.signups"


def record(value: bytes, offset: int, partition: int = 0, **kw: Any) -> ConsumerRecord:
    headers = kw.get("headers", ())
    timestamp, kind = kw.get("timestamp", 0), kw.get("timestamp_type", 0)
    topic = kw.get("topic", SIGNUPS)
    return ConsumerRecord(
        topic, partition, offset, timestamp, kind, b"k", value, None, 1, len(value), headers
    )


def signed_up(**changes: Any) -> bytes:
    return orjson.dumps({**example("volunteer.signed_up"), **changes})


class Counting:
    """An accumulator that counts the events it was fed."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def add(self, events: Sequence[Any]) -> None:
        self.events += [e.id for e in events]

    def result(self) -> list[str]:
        return self.events


async def test_a_decoded_batch_keeps_records_by_partition_in_one_sorted_list() -> None:
    """Records flattened partition by partition; good and dead split; precompute fed."""
    fetched = {
        TopicPartition(SIGNUPS, 1): [record(signed_up(id="b"), 0, 1)],
        TopicPartition(SIGNUPS, 0): [record(signed_up(id="a"), 5), record(b"{", 6)],
    }
    batch = await decode(fetched, precompute=Counting)
    assert isinstance(batch, DecodedBatch)
    assert [(r.partition, r.offset) for r in batch.records] == [(0, 5), (0, 6), (1, 0)]
    assert [e.id for _, e in batch.good] == ["a", "b"]
    assert [(d.record.offset, d.reason) for d in batch.dead] == [(6, "invalid_json")]
    assert batch.prepared == ["a", "b"]
    assert batch.fetched is fetched


async def test_a_batch_without_precompute_carries_nothing_prepared() -> None:
    """No accumulator declared: `prepared` stays None."""
    batch = await decode({TopicPartition(SIGNUPS, 0): [record(signed_up(), 0)]})
    assert batch.prepared is None
    assert DecodedBatch.empty().records == []


def test_group_keeps_each_partitions_order() -> None:
    """Grouping a flat batch keeps per-partition order (what the plan reads)."""
    flat = [record(b"", 3, 1), record(b"", 7, 0), record(b"", 4, 1), record(b"", 8, 0)]
    grouped = group(flat)
    assert {tp.partition: [r.offset for r in rs] for tp, rs in grouped.items()} == {
        1: [3, 4],
        0: [7, 8],
    }


def _event(**changes: Any) -> Any:
    return decode_event(signed_up(**changes))


async def test_apply_without_precompute_is_called_with_connection_and_events() -> None:
    """A two-argument apply gets (conn, events) whatever the runtime passes as prepared."""
    calls: list[tuple[Any, ...]] = []

    async def apply(conn: Any, events: Sequence[Any]) -> None:
        calls.append((conn, [e.id for e in events]))

    call = applier(Projector("p", (SIGNUPS,), (), apply, frozenset({"volunteer.signed_up"})))
    await call("conn", [_event(id="x")], None)
    assert calls == [("conn", ["x"])]


async def test_apply_with_precompute_gets_what_was_prepared_or_computes_it() -> None:
    """Prepared ahead: passed through. Not prepared: computed from exactly these events."""
    calls: list[Any] = []

    async def apply(conn: Any, events: Sequence[Any], prepared: Any) -> None:
        calls.append(prepared)

    declared = Projector(
        "p", (SIGNUPS,), (), apply, frozenset({"volunteer.signed_up"}), precompute=Counting
    )
    call = applier(declared)
    await call("conn", [_event(id="x")], ["ahead"])
    await call("conn", [_event(id="y"), _event(id="z")], None)
    assert calls == [["ahead"], ["y", "z"]]


def test_identity_is_source_and_id() -> None:
    """Two events with the same id from different sources are different events."""
    a, b = _event(id="1", source="partner/a"), _event(id="1", source="partner/b")
    assert identity(a) == "partner/a 1"
    assert identity(a) != identity(b)


def test_entry_order_is_append_time_then_position() -> None:
    """Facts are judged in the order they entered the log, ties broken by position."""
    late = record(b"", 0, 0, timestamp=2000)
    early_b = record(b"", 9, 1, timestamp=1000)
    early_a = record(b"", 4, 1, timestamp=1000)
    pairs = [(late, None), (early_b, None), (early_a, None)]
    ordered = sorted(pairs, key=entry_order)  # type: ignore[arg-type]
    assert [r.offset for r, _ in ordered] == [4, 9, 0]
    assert origin(early_a) == (SIGNUPS, 1, 4)


def test_entered_is_the_brokers_append_time_only() -> None:
    """LogAppendTime is trusted; a producer's CreateTime is not (now instead)."""
    stamped = record(b"", 0, timestamp=1_700_000_000_000, timestamp_type=1)
    assert entered(stamped) == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)
    claimed = record(b"", 0, timestamp=1_000, timestamp_type=0)
    assert entered(claimed) > dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


@given(
    value=st.one_of(st.none(), st.binary(max_size=50)),
    key=st.one_of(st.none(), st.binary(max_size=10)),
    headers=st.lists(st.tuples(st.text(max_size=5), st.binary(max_size=5)), max_size=3),
    offset=st.integers(0, 2**40),
)
def test_a_parked_record_comes_back_as_it_was(
    value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]], offset: int
) -> None:
    """Parking stores a record as JSON; freeing it gives the same bytes and position."""
    original = ConsumerRecord(SIGNUPS, 2, offset, 123, 1, key, value, None, 0, 0, tuple(headers))
    back = record_from_json(orjson.dumps(record_json(original)).decode())
    assert (back.topic, back.partition, back.offset) == (SIGNUPS, 2, offset)
    assert (back.key, back.value, back.timestamp, back.timestamp_type) == (key, value, 123, 1)
    assert list(back.headers) == headers
