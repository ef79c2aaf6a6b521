"""The batch plan: what a fetched batch means against the offsets PostgreSQL holds. No I/O.

Given each partition's fetched records (in offset order) and its stored next offset:
records below the stored offset were applied already (a redelivery after a rebalance or
a retry) and are skipped; a batch starting past the stored offset has a gap (records the
position came from elsewhere never applied here), so the batch is refetched from the
stored offset, unless the refetch started at the same offset again (the log really has a
hole there: compaction, transaction markers); and each partition's next offset is its
last record's offset + 1 when that moves it forward. Only each partition's first and last
offsets are read, plus a binary search where something is to skip: no walk per record.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from aiokafka import TopicPartition


class Positioned(Protocol):
    """Anything with an offset (a consumer record)."""

    @property
    def offset(self) -> int: ...


@dataclass(frozen=True)
class BatchPlan:
    """What to do with a fetched batch: refetch, skip, and where each partition moves to."""

    # Partitions to refetch from the stored offset (the batch is not applied at all).
    gaps: dict[TopicPartition, int] = field(default_factory=dict)
    # Partitions with records already applied: keep only offsets at or above these.
    skip_below: dict[TopicPartition, int] = field(default_factory=dict)
    skipped: int = 0  # records below the stored offsets
    next_offsets: dict[TopicPartition, int] = field(default_factory=dict)  # to store


def plan_batch(
    fetched: Mapping[TopicPartition, Sequence[Positioned]],
    stored: Mapping[TopicPartition, int],
    gap_seen: Mapping[TopicPartition, int] | None = None,
) -> BatchPlan:
    """Plan a batch. `gap_seen`: the first offset of the last gap refetched per partition.

    A partition missing from `stored` was never applied (next offset 0).
    """
    seen = gap_seen or {}
    gaps: dict[TopicPartition, int] = {}
    skip_below: dict[TopicPartition, int] = {}
    skipped = 0
    next_offsets: dict[TopicPartition, int] = {}
    for tp, records in fetched.items():
        if not records:
            continue
        floor = stored.get(tp, 0)
        first, last = records[0].offset, records[-1].offset
        if first > floor and seen.get(tp) != first:
            gaps[tp] = floor
        elif first < floor:
            skip_below[tp] = floor
            skipped += bisect_left(records, floor, key=_offset)
        if last + 1 > floor:
            next_offsets[tp] = last + 1
    if gaps:
        return BatchPlan(gaps=gaps)
    return BatchPlan({}, skip_below, skipped, next_offsets)


def first_offsets(
    gaps: Mapping[TopicPartition, int], fetched: Mapping[TopicPartition, Sequence[Positioned]]
) -> dict[TopicPartition, int]:
    """The first fetched offset of each gap's partition (remembered as `gap_seen`)."""
    return {tp: fetched[tp][0].offset for tp in gaps}


def _offset(record: Positioned) -> int:
    return record.offset
