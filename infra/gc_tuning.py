"""Garbage-collector tuning for the platform's long-running processes (call once started).

A projector's batch, or a burst of API requests, keeps thousands of young objects alive
for a few hundred milliseconds, so CPython's default thresholds promote them and run a
full collection every few batches (or every few hundred requests), each walking every
module, schema, pydantic model and client object the process loaded:

- in a projector, a quarter of its CPU (benchmarks/bench_projectors.py);
- in the read API, the tail: with the defaults, 32 clients saw a p99 of ~125 ms on
  `GET /health` against a p50 of ~23 ms, every full collection a stall of ~100 ms for
  all of them; frozen, p99 ~20 ms and twice the requests per second
  (benchmarks/bench_national.py --measure, read side).

Freezing what exists once start-up is done takes it out of every later collection;
larger thresholds let a batch or a request live and die between two collections.
Cyclic garbage is still collected, so memory stays flat.
"""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 10, 10)


def tune_gc() -> None:
    """Collect once, freeze the survivors (start-up's objects), raise the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
