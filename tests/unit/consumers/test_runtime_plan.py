"""The batch plan: skips, gaps and next offsets from stored offsets and fetched records."""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import TopicPartition
from hypothesis import given
from hypothesis import strategies as st

from consumers.runtime.plan import first_offsets, plan_batch


@dataclass(frozen=True)
class At:
    """A fetched record, as far as the plan cares."""

    offset: int


PARTITIONS = [TopicPartition("tatawwu.signups", p) for p in range(3)] + [
    TopicPartition("tatawwu.campaigns", 0)
]

offsets = st.lists(st.integers(0, 60), min_size=1, max_size=25, unique=True).map(sorted)
fetched_batches = st.dictionaries(
    st.sampled_from(PARTITIONS), offsets.map(lambda os: [At(o) for o in os]), max_size=4
)


@st.composite
def batches(draw: st.DrawFn) -> tuple[dict, dict, dict]:
    """Fetched records, stored offsets near them, and gaps already seen (some)."""
    fetched = draw(fetched_batches)
    stored = {
        tp: draw(st.integers(max(0, records[0].offset - 5), records[-1].offset + 5))
        for tp, records in fetched.items()
        if draw(st.booleans()) or records[0].offset > 0
    }
    seen = {tp: records[0].offset for tp, records in fetched.items() if draw(st.booleans())}
    return fetched, stored, seen


@given(batches())
def test_a_gap_is_a_partition_whose_batch_starts_past_its_stored_offset_unless_refetched(
    case: tuple[dict, dict, dict],
) -> None:
    """Gaps are detected exactly: first > stored, and not the first offset refetched."""
    fetched, stored, seen = case
    plan = plan_batch(fetched, stored, seen)
    expected = {
        tp: stored.get(tp, 0)
        for tp, records in fetched.items()
        if records[0].offset > stored.get(tp, 0) and seen.get(tp) != records[0].offset
    }
    assert plan.gaps == expected


@given(batches())
def test_a_batch_with_a_gap_skips_nothing_and_stores_nothing(case: tuple[dict, dict, dict]) -> None:
    """A gap means the batch is fetched again: no skips, no offsets to store."""
    fetched, stored, seen = case
    plan = plan_batch(fetched, stored, seen)
    if plan.gaps:
        assert (plan.skip_below, plan.skipped, plan.next_offsets) == ({}, 0, {})


@given(batches())
def test_the_next_offset_is_the_last_offset_plus_one_when_it_moves_forward(
    case: tuple[dict, dict, dict],
) -> None:
    """Next offset = max offset + 1 per partition, never at or below the stored offset."""
    fetched, stored, _ = case
    plan = plan_batch(fetched, stored, {tp: r[0].offset for tp, r in fetched.items()})
    assert plan.gaps == {}
    expected = {
        tp: max(r.offset for r in records) + 1
        for tp, records in fetched.items()
        if max(r.offset for r in records) + 1 > stored.get(tp, 0)
    }
    assert plan.next_offsets == expected


@given(batches())
def test_exactly_the_records_below_the_stored_offset_are_skipped(
    case: tuple[dict, dict, dict],
) -> None:
    """Skipped = records below the stored offset; nothing at or above it is skipped."""
    fetched, stored, _ = case
    plan = plan_batch(fetched, stored, {tp: r[0].offset for tp, r in fetched.items()})
    below = [
        (tp, r.offset)
        for tp, records in fetched.items()
        for r in records
        if r.offset < stored.get(tp, 0)
    ]
    assert plan.skipped == len(below)
    kept = [
        (tp, r.offset)
        for tp, records in fetched.items()
        for r in records
        if r.offset >= plan.skip_below.get(tp, -1)
    ]
    assert sorted(kept + below) == sorted((tp, r.offset) for tp, rs in fetched.items() for r in rs)
    for tp, floor in plan.skip_below.items():
        assert floor == stored[tp]
        assert fetched[tp][0].offset < floor


def test_a_redelivered_batch_is_skipped_whole_and_moves_nothing() -> None:
    """Everything below the stored offset: all skipped, no offset stored again."""
    tp = PARTITIONS[0]
    plan = plan_batch({tp: [At(3), At(4), At(5)]}, {tp: 10})
    assert (plan.skipped, plan.skip_below, plan.next_offsets) == (3, {tp: 10}, {})


def test_a_batch_overlapping_the_stored_offset_keeps_its_tail() -> None:
    """Records from the stored offset on are kept; the offset moves past the last one."""
    tp = PARTITIONS[1]
    plan = plan_batch({tp: [At(3), At(5), At(8), At(9)]}, {tp: 6})
    assert (plan.skipped, plan.next_offsets) == (2, {tp: 10})


def test_a_partition_never_stored_starts_at_zero() -> None:
    """No stored row: offset 0 is no gap, offset 2 is (refetch from 0)."""
    a, b = PARTITIONS[0], PARTITIONS[1]
    assert plan_batch({a: [At(0), At(1)]}, {}).next_offsets == {a: 2}
    assert plan_batch({b: [At(2)]}, {}).gaps == {b: 0}


def test_a_refetch_starting_at_the_same_offset_is_a_real_hole_in_the_log() -> None:
    """The second time a batch starts at the same offset past the stored one, it is applied."""
    tp = PARTITIONS[2]
    fetched = {tp: [At(7), At(8)]}
    first = plan_batch(fetched, {tp: 4})
    assert first.gaps == {tp: 4}
    seen = first_offsets(first.gaps, fetched)
    assert seen == {tp: 7}
    assert plan_batch(fetched, {tp: 4}, seen).next_offsets == {tp: 9}


def test_an_empty_batch_plans_nothing() -> None:
    """No records, nothing to do."""
    plan = plan_batch({}, {PARTITIONS[0]: 3})
    assert (plan.gaps, plan.skip_below, plan.skipped, plan.next_offsets) == ({}, {}, 0, {})
