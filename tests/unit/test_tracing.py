"""W3C Trace Context helpers: continue or start a trace, bind it for logs, carry it on Kafka."""

from __future__ import annotations

from structlog.contextvars import clear_contextvars, get_contextvars

from infra import tracing

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def test_begin_continues_an_incoming_trace_with_a_new_span() -> None:
    """Same trace id and flags, a child span id, tracestate kept; trace_id bound for logs."""
    clear_contextvars()
    token = tracing.begin({"traceparent": TRACEPARENT, "tracestate": "tw=1"})
    try:
        headers = dict(tracing.kafka_headers())
        version, trace_id, span_id, flags = headers["traceparent"].decode().split("-")
        assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
        assert span_id != "00f067aa0ba902b7"
        assert headers["tracestate"] == b"tw=1"
        assert get_contextvars()["trace_id"] == TRACE_ID
        assert headers["correlation_id"] == TRACE_ID.encode()  # deprecated, one release
    finally:
        tracing.end(token)
        clear_contextvars()
    assert tracing.trace_id_of() is None  # the previous (empty) context is back


def test_begin_starts_a_trace_when_none_or_a_malformed_one_comes() -> None:
    """No traceparent, or a broken one: a fresh valid trace id, different each time."""
    seen = set()
    for headers in (None, {"traceparent": "00-nope"}, [("traceparent", b"ff-" + b"0" * 50)]):
        token = tracing.begin(headers)
        try:
            trace_id = tracing.trace_id_of()
            assert trace_id is not None
            assert len(trace_id) == 32
            seen.add(trace_id)
        finally:
            tracing.end(token)
            clear_contextvars()
    assert len(seen) == 3


def test_a_caller_correlation_id_is_still_accepted() -> None:
    """The deprecated X-Correlation-ID value is bound and written beside the traceparent."""
    token = tracing.begin(None, correlation_id="req-42")
    try:
        assert get_contextvars()["correlation_id"] == "req-42"
        assert dict(tracing.kafka_headers())["correlation_id"] == b"req-42"
    finally:
        tracing.end(token)
        clear_contextvars()


def test_extract_and_bind_read_kafka_record_headers() -> None:
    """What a projector will do per record: extract from (name, bytes) pairs, bind trace_id."""
    clear_contextvars()
    headers = [("content-type", b"application/cloudevents+json"),
               ("traceparent", TRACEPARENT.encode())]  # fmt: skip
    assert tracing.bind(tracing.extract(headers)) == TRACE_ID
    assert get_contextvars()["trace_id"] == TRACE_ID
    clear_contextvars()
    assert tracing.bind(tracing.extract([("traceparent", b"garbage")])) is None
    assert tracing.bind(tracing.extract(None)) is None
    assert "trace_id" not in get_contextvars()
