"""Per-request context (pure ASGI middleware): correlation id, the summary line, metrics.

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

from infra.logging import new_correlation_id
from producers.gateway.metrics import GatewayMetrics
from producers.gateway.problems import generic

log = structlog.get_logger("producers.gateway")

HEADER = b"x-correlation-id"
_VALID_ID = re.compile(rb"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


def _correlation_id(scope: Scope) -> str:
    """The caller's X-Correlation-ID when it is sane (it goes into logs and headers), else new."""
    for name, value in scope.get("headers", ()):
        if name == HEADER and _VALID_ID.fullmatch(value):
            return value.decode()
    return new_correlation_id()


class RequestContext:
    """Binds the correlation id, echoes it, turns crashes into a bare 500, logs one line."""

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        cid = _correlation_id(scope)
        saved = get_contextvars()
        bind_contextvars(correlation_id=cid)
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
            clear_contextvars()
            bind_contextvars(**saved)
