"""Projector status and lag, computed once for `projections status` and the API's freshness."""

from __future__ import annotations

from aiokafka import TopicPartition

from consumers.runtime import bookkeeping
from consumers.status import status_of


def test_lag_is_the_records_between_the_stored_and_the_end_offsets() -> None:
    """Status and freshness share one computation: lag per partition, never negative."""
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    progress = bookkeeping.Progress(10, 1, 2, None, None, {a: 5, b: 9})
    status = status_of("campaigns", "campaigns", progress, {a: 12, b: 8})
    assert status.lag == 7
    assert status.partitions == (("t", 0, 5, 12), ("t", 1, 9, 8))
    assert status_of("campaigns", "campaigns", progress, None).lag is None
    unknown_end = status_of("c", "c", progress, {a: 6})
    assert unknown_end.lag == 1
