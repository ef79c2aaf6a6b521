"""`/health`, `/ready` and `/metrics` for the processes without a web app (projectors, notifier).

A few lines over asyncio's `start_server` rather than FastAPI or uvicorn, whose imports
would add ~0.2 s to every projector start, where restarts are timed. `/health` is
liveness (the event loop answers; nothing else is asked, so an outage of PostgreSQL
never gets a healthy process restarted), `/ready` asks the process whether it can do
its work, `/metrics` is the Prometheus exposition of the process-wide registry. One
request per connection, `GET` or `HEAD` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

# Why the process is not ready (a short sentence), or None when it is.
Readiness = Callable[[], Awaitable[str | None]]

READ_TIMEOUT_S = 5.0  # a client that sends no request head within this is dropped
READY_TIMEOUT_S = 5.0  # a readiness check that takes longer is itself a "not ready"
MAX_HEAD_BYTES = 8192
JSON = "application/json"
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           503: "Service Unavailable"}  # fmt: skip


async def start_ops_server(host: str, port: int, readiness: Readiness) -> asyncio.Server:
    """Serve `/health`, `/ready` and `/metrics` on host:port until the server is closed."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT_S)
            method, path = _request_line(head)
            status, content_type, body = await _route(method, path, readiness)
            writer.write(_response(status, content_type, body, send_body=method != "HEAD"))
            await writer.drain()
        except (
            TimeoutError,
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
        ):
            pass  # the client went away or never spoke: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    return await asyncio.start_server(answer, host, port, limit=MAX_HEAD_BYTES)


def _request_line(head: bytes) -> tuple[str, str]:
    """The method and the path (without its query) of a request head."""
    parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
    if len(parts) != 3:
        return "", ""
    return parts[0], parts[1].split("?", 1)[0]


async def _route(method: str, path: str, readiness: Readiness) -> tuple[int, str, bytes]:
    if not method:
        return 400, JSON, _json({"status": "bad_request"})
    if path not in {"/health", "/ready", "/metrics"}:
        return 404, JSON, _json({"status": "not_found", "paths": ["/health", "/ready", "/metrics"]})
    if method not in {"GET", "HEAD"}:
        return 405, JSON, _json({"status": "method_not_allowed"})
    if path == "/metrics":
        return 200, CONTENT_TYPE_LATEST, generate_latest()
    if path == "/health":
        return 200, JSON, _json({"status": "ok"})
    try:
        reason = await asyncio.wait_for(readiness(), READY_TIMEOUT_S)
    except Exception as exc:  # a broken check says so rather than closing the connection
        reason = f"readiness check failed: {type(exc).__name__}"
    if reason is None:
        return 200, JSON, _json({"status": "ready"})
    return 503, JSON, _json({"status": "unavailable", "reason": reason})


def _json(document: dict[str, object]) -> bytes:
    return json.dumps(document).encode()


def _response(status: int, content_type: str, body: bytes, *, send_body: bool) -> bytes:
    head = (
        f"HTTP/1.1 {status} {REASONS[status]}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Cache-Control: no-store\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + (body if send_body else b"")
