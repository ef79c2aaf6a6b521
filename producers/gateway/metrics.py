"""Prometheus metrics of one gateway app, on its own registry (tests build several apps).

Named `tatawwu_gateway_<what>_<unit>` like every metric of the platform (a unit test
checks the names).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class GatewayMetrics:
    """Requests by status, accepted events by type, rejections by reason, produce latency."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "tatawwu_gateway_requests_total", "HTTP requests answered, by status", ["status"],
            registry=self.registry,
        )  # fmt: skip
        self.accepted = Counter(
            "tatawwu_gateway_events_accepted_total", "Events acknowledged by Kafka, by type", ["type"],
            registry=self.registry,
        )  # fmt: skip
        self.rejections = Counter(
            "tatawwu_gateway_requests_rejected_total", "Requests refused, by reason", ["reason"],
            registry=self.registry,
        )  # fmt: skip
        self.refused = Counter(
            "tatawwu_gateway_events_refused_total", "Events refused by the ownership rules, by rule", ["rule"],
            registry=self.registry,
        )  # fmt: skip
        self.produce_seconds = Histogram(
            "tatawwu_gateway_produce_seconds", "Seconds from first send to the last Kafka acknowledgement",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )  # fmt: skip

    def refusals_by_rule(self, refusals: list[Any]) -> None:
        """Count each refused event under its rule."""
        for refusal in refusals:
            self.refused.labels(refusal.rule).inc()

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
