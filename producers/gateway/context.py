"""Per-request context (pure ASGI middleware): the trace, the summary line, metrics.

Each request continues the caller's W3C `traceparent` (or starts a trace) through
`infra.tracing`; its `trace_id` is on every log line of the request and the records it
sends carry its `traceparent`. `X-Correlation-ID` is deprecated and kept for one release:
a sane one is still accepted, logged as `correlation_id`, written to Kafka and echoed; when
none is sent the trace id stands in for it.

Pure ASGI rather than Starlette's BaseHTTPMiddleware: that one runs the endpoint in a
separate task (contextvars bound there would not reach the summary line) and costs a
noticeable share of a single-event request.
"""

from __future__ import annotations

import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from structlog.contextvars import bind_contextvars, clear_contextvars, get_contextvars

from infra import tracing
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.problems import generic

log = structlog.get_logger("producers.gateway")

HEADER = b"x-correlation-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_TRACE_HEADERS = frozenset(name.encode() for name in tracing.TRACE_HEADERS)


def _trace_headers(scope: Scope) -> tuple[list[tuple[str, bytes]], str | None]:
    """The request's `traceparent`/`tracestate`, and its X-Correlation-ID when sane."""
    found: list[tuple[str, bytes]] = []
    correlation = None
    for name, value in scope.get("headers", ()):
        if name in _TRACE_HEADERS:
            found.append((name.decode(), value))
        elif name == HEADER and _VALID_ID.fullmatch(value):
            correlation = value.decode()
    return found, correlation


class RequestContext:
    """Continues or starts the trace, echoes the correlation id, turns crashes into a bare
    500, logs one line."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        saved = get_contextvars()
        headers, correlation = _trace_headers(scope)
        token = tracing.begin(headers, correlation)
        cid = str(get_contextvars()["correlation_id"])
        # The endpoint records what the summary line should say here (events, reason).
        info: dict[str, Any] = scope.setdefault("tatawwu", {})
        status = 500
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
                message["headers"] = [*message.get("headers", ()), (HEADER, cid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            # Only the exception's type and place: its message may quote event data.
            frame = exc.__traceback__
            while frame is not None and frame.tb_next is not None:
                frame = frame.tb_next
            where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"
            log.error("request_crashed", error=type(exc).__name__, where=where)
            if not started:
                problem = generic(500, "the gateway failed unexpectedly; retry later")
                await problem.response({"X-Correlation-ID": cid})(scope, receive, send)
                status = 500
        finally:
            self.metrics.requests.labels(str(status)).inc()
            fields = {"events": info["events"]} if "events" in info else {}
            if "reason" in info:
                fields["reason"] = info["reason"]
            log.info(
                "request_handled",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status,
                duration_ms=round((time.perf_counter() - began) * 1000, 2),
                **fields,
            )
            tracing.end(token)
            clear_contextvars()
            bind_contextvars(**saved)
