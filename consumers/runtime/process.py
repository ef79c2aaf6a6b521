"""A projector as a process: start, tune the garbage collector (`infra.gc_tuning`), run,
close."""

from __future__ import annotations

from consumers.runtime.errors import ProjectorBroken
from consumers.runtime.loop import ProjectorRuntime
from infra.gc_tuning import GC_THRESHOLDS, tune_gc

__all__ = ["GC_THRESHOLDS", "run_projector", "tune_gc"]


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
