"""Prometheus metrics of the router (served by `tatawwu router run --metrics-port`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter(
    "tatawwu_router_events_total",
    "Ingress records forwarded (accepted) or dead-lettered (refused), by org and rule",
    ["org", "outcome", "rule"],
)
BATCHES = Counter(
    "tatawwu_router_batches_total",
    "Batches, by outcome: committed, or aborted (then read again and retried)",
    ["outcome"],
)
BATCH_SIZE = Histogram(
    "tatawwu_router_batch_size_records",
    "Records per batch",
    buckets=(1, 10, 100, 500, 1000, 2000, 5000, 10000, 20000),
)
TRANSACTION_SECONDS = Histogram(
    "tatawwu_router_transaction_seconds",
    "Seconds from the transaction's begin to its commit (sends, offsets, counts)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SECONDS = Histogram(
    "tatawwu_router_batch_seconds",
    "Seconds to decode, judge and forward one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LAG = Gauge(
    "tatawwu_router_lag_records",
    "Records between the committed offset and the ingress partition's end",
    ["topic", "partition"],
)
