"""Stepping over transaction markers: an idle projector stores the consumer's position.

A topic written in Kafka transactions (the router's) has a commit marker after each
transaction's records, which a read_committed consumer skips. The runtime stores "last
applied record + 1", which then stays one short of the partition's end: the lag never
reaches 0, and the next batch, starting after the marker, looks like a gap (refetched
once). When the runtime is idle, with nothing in flight, every record the fetcher
returned has been applied, so what lies between the applied offset and the consumer's
position is only such markers (or aborted records): the position is stored, forward
only (`bookkeeping.advance_offsets`), and becomes the applied offset.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from consumers.runtime import bookkeeping

MARKERS_EVERY_S = 1.0  # while idle, at most this often


async def step_over_markers(runtime: Any) -> dict[Any, int]:
    """Store the positions of `runtime`'s (a ProjectorRuntime) partitions that moved past
    their applied offsets without records; return what was stored."""
    consumer, pool = runtime._consumer, runtime._pool
    if consumer is None or pool is None:
        return {}
    moved = {}
    for tp in consumer.assignment():
        if tp in runtime._paused or tp not in runtime.applied:
            continue
        position = await runtime._position(tp)
        if position > runtime.applied[tp]:
            moved[tp] = position
    if not moved:
        return {}
    try:
        await bookkeeping.advance_offsets(pool, moved)
    except (OSError, asyncpg.PostgresError) as exc:  # idle housekeeping: next time
        runtime.log.warning("offsets_not_advanced", error=type(exc).__name__)
        return {}
    for tp, position in moved.items():
        runtime.applied[tp] = max(runtime.applied.get(tp, 0), position)
    return moved
