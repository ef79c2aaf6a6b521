"""Every Prometheus metric of the platform is `tatawwu_<component>_<what>_<unit>`."""

from __future__ import annotations

from prometheus_client import REGISTRY, generate_latest

import consumers.notifications.service  # noqa: F401 - registers the notifier's metrics
import tatawwu.manifest  # noqa: F401 - imports every process's modules (projector metrics)
from consumers.api.app import create_app
from infra.settings import Settings
from producers.gateway.metrics import GatewayMetrics

COMPONENTS = ("gateway", "api", "projector", "notifier", "router")
UNITS = ("_seconds", "_bytes", "_records", "_events", "_messages")
CLIENT_OWN = ("python_", "process_")  # prometheus_client's default process collectors


def exposed_types() -> dict[str, str]:
    """Metric name -> type, as Prometheus reads them from every registry of the platform:
    the process-wide one (projectors, notifier) and the gateway's and read API's own."""
    registries = (REGISTRY, GatewayMetrics().registry, create_app(Settings()).state.registry)
    types = {}
    for registry in registries:
        for line in generate_latest(registry).decode().splitlines():
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split(" ")
                types[name] = kind
    # `<counter>_created`: prometheus_client's creation time of each counter and histogram.
    return {
        name: kind
        for name, kind in types.items()
        if not name.startswith(CLIENT_OWN)
        and not (name.endswith("_created") and kind == "gauge" and name[:-8] in _bases(types))
    }


def _bases(types: dict[str, str]) -> set[str]:
    return {n.removesuffix("_total") for n, k in types.items() if k in ("counter", "histogram")}


def test_every_metric_is_named_tatawwu_component_what_unit() -> None:
    """Counters end `_total`; gauges and histograms end with their unit, never `_total`."""
    types = exposed_types()
    assert {name.split("_")[1] for name in types} == set(COMPONENTS)
    wrong = {}
    for name, kind in types.items():
        if not name.startswith(tuple(f"tatawwu_{c}_" for c in COMPONENTS)):
            wrong[name] = "not tatawwu_<component>_"
        elif kind == "counter" and not name.endswith("_total"):
            wrong[name] = "a counter without _total"
        elif kind != "counter" and (name.endswith("_total") or not name.endswith(UNITS)):
            wrong[name] = f"a {kind} without a unit {UNITS}"
    assert wrong == {}


def test_the_names_operators_alert_on_are_there() -> None:
    """A few names dashboards and alerts are built on (renaming them breaks those)."""
    assert {
        "tatawwu_gateway_events_accepted_total",
        "tatawwu_gateway_produce_seconds",
        "tatawwu_api_requests_total",
        "tatawwu_projector_events_total",
        "tatawwu_projector_lag_records",
        "tatawwu_projector_batch_size_records",
        "tatawwu_notifier_messages_total",
        "tatawwu_notifier_backlog_messages",
        "tatawwu_notifier_oldest_due_age_seconds",
    } <= set(exposed_types())
