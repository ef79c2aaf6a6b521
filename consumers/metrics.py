"""Prometheus metrics of the projectors (served by `tatawwu projections run --metrics-port`).

On the process-wide registry: one projector per process, or a notifier and its projector.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "tatawwu_projector_events_total", "Events handled, by outcome", ["projector", "outcome"]
)
BATCH_SIZE = Histogram(
    "tatawwu_projector_batch_size_records",
    "Records per batch",
    ["projector"],
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000),
)
APPLY_SECONDS = Histogram(
    "tatawwu_projector_apply_seconds",
    "Seconds to decode and apply one batch in one transaction",
    ["projector"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LAG = Gauge(
    "tatawwu_projector_lag_records",
    "Records between the applied offset and the partition's end",
    ["projector", "topic", "partition"],
)
RETRIES = Counter(
    "tatawwu_projector_batch_retries_total",
    "Batches retried after a transient failure",
    ["projector"],
)
REFUSED = Counter(
    "tatawwu_projector_events_refused_total",
    "Facts refused by the ownership rules (dead-lettered), by rule",
    ["projector", "rule"],
)
PARKED = Counter(
    "tatawwu_projector_events_parked_total",
    "Facts parked until the claim deciding their owner arrives",
    ["projector"],
)
