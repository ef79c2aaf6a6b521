"""A projector as a process: garbage-collector tuning, and start / run / close."""

from __future__ import annotations

import gc

from consumers.runtime.errors import ProjectorBroken
from consumers.runtime.loop import ProjectorRuntime

GC_THRESHOLDS = (20_000, 10, 10)  # see tune_gc


def tune_gc() -> None:
    """Garbage-collection settings for a process that runs projectors (call once started).

    A batch keeps thousands of young objects alive (records, events, their models) for
    a few hundred milliseconds, so CPython's default thresholds promote them and run a
    full collection every few batches, each walking every module, schema and client
    object the process loaded: a quarter of the projector's CPU, measured. Freezing
    what exists once start-up is done takes that out of every later collection; larger
    thresholds let a batch live and die between two collections. Cyclic garbage is
    still collected (memory stays flat: see benchmarks/bench_projectors.py).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def run_projector(runtime: ProjectorRuntime) -> None:
    """Start, run until stopped, and close cleanly (the batch in flight is finished)."""
    await runtime.start()
    tune_gc()
    try:
        await runtime.run()
    except ProjectorBroken as exc:
        runtime.log.error("projector_broken", detail=str(exc)[:600])
        raise
    finally:
        await runtime.close()
