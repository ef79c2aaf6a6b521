"""W3C Trace Context through the OpenTelemetry API: continue or start a trace, log it, carry it.

A unit of work (a gateway request, a publish run; after the runtime merge, a projector
batch or record) calls `begin(...)`: it continues the caller's `traceparent` (a child span
id in the same trace) or starts a new trace, makes it the current OpenTelemetry context
and binds `trace_id` into structlog's contextvars, so every log line of that unit names
the trace. `kafka_headers()` gives the `traceparent`/`tracestate` headers the emit
function (`infra.bus`) writes on each record; a consumer reads them back with
`extract(record.headers)` and logs under them with `bind(...)`:

    token = tracing.begin(request_headers)   # gateway: HTTP traceparent, or a new trace
    ...                                      # emit() injects traceparent into Kafka headers
    tracing.end(token)

    tracing.bind(tracing.extract(record.headers))   # projector / notifier, per record or batch

Only the OpenTelemetry *API* is used: no spans are recorded or exported (no SDK, no
collector). Trace and span ids are made here (random 128/64-bit, as the SDK's
RandomIdGenerator does) and carried in a non-recording span, which is all propagation
needs; an SDK installed later records real spans through the same context.

The home-made correlation id (`X-Correlation-ID` over HTTP, the `correlation_id` Kafka
header) is deprecated and kept for one release: `begin` still accepts the caller's
`X-Correlation-ID` and binds it as `correlation_id` (the trace id when none is sent), and
the emit function still writes it, so consumers not yet reading `traceparent` keep
logging it. Remove both in the release after.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from structlog.contextvars import bind_contextvars

from infra.logging import correlation_headers

LEGACY_HTTP_HEADER = "x-correlation-id"
"""Deprecated: accepted (and echoed) for one release beside `traceparent`."""
TRACE_HEADERS = ("traceparent", "tracestate")
_PROPAGATOR = TraceContextTextMapPropagator()


def _new_id(bits: int) -> int:
    value = 0
    while value == 0:  # all-zero ids are invalid in W3C Trace Context
        value = random.getrandbits(bits)
    return value


def trace_id_of(context: Context | None = None) -> str | None:
    """The 32-hex-digit trace id of `context` (default: the current one), or None."""
    span = trace.get_current_span(context).get_span_context()
    return trace.format_trace_id(span.trace_id) if span.is_valid else None


def extract(headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None) -> Context:
    """The trace context in HTTP or Kafka headers (`traceparent`, `tracestate`).

    Accepts a mapping (HTTP) or (name, bytes) pairs (Kafka record headers). An absent or
    malformed `traceparent` gives an empty context (no trace), never an error.
    """
    items = headers.items() if isinstance(headers, Mapping) else (headers or ())
    carrier: dict[str, str] = {}
    for name, value in items:
        lowered = str(name).lower()
        if lowered in TRACE_HEADERS and value is not None:
            raw = bytes(value) if isinstance(value, bytes | bytearray | memoryview) else value
            carrier[lowered] = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    return _PROPAGATOR.extract(carrier) if carrier else Context()


def child_of(parent: Context) -> Context:
    """A context with a new span id in the parent's trace, or a new trace when it has none."""
    above = trace.get_current_span(parent).get_span_context()
    if above.is_valid:
        trace_id, flags, state = above.trace_id, above.trace_flags, above.trace_state
    else:
        trace_id, flags, state = _new_id(128), TraceFlags(TraceFlags.DEFAULT), None
    span = SpanContext(trace_id, _new_id(64), is_remote=False, trace_flags=flags, trace_state=state)
    return trace.set_span_in_context(NonRecordingSpan(span), Context())


def bind(context: Context) -> str | None:
    """Bind the context's `trace_id` into structlog's contextvars; return it (None: no trace)."""
    trace_id = trace_id_of(context)
    if trace_id is not None:
        bind_contextvars(trace_id=trace_id)
    return trace_id


def begin(
    headers: Iterable[tuple[str, Any]] | Mapping[str, Any] | None = None,
    correlation_id: str | None = None,
) -> object:
    """Continue the trace in `headers` (or start one), make it current and bind it for logs.

    Also binds the deprecated `correlation_id` (the caller's, else the trace id). Returns the
    token `end` needs to restore the previous context.
    """
    context = child_of(extract(headers))
    trace_id = bind(context)
    bind_contextvars(correlation_id=correlation_id or trace_id)
    return otel_context.attach(context)


def end(token: object) -> None:
    """Restore the OpenTelemetry context that was current before `begin`."""
    otel_context.detach(token)  # type: ignore[arg-type]


def kafka_headers() -> list[tuple[str, bytes]]:
    """`traceparent`/`tracestate` of the current trace, then the deprecated `correlation_id`."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return [(name, value.encode()) for name, value in carrier.items()] + correlation_headers()
