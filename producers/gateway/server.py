"""Serving the gateway with uvicorn: in the foreground (`tatawwu gateway`) or in a thread.

The thread form binds an ephemeral port first and serves on that socket, so tests and
the benchmark never race another process for a fixed port.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from typing import Any

import uvicorn

from infra.settings import Settings
from producers.gateway.app import create_app


class ServerDidNotStart(RuntimeError):
    """uvicorn did not report readiness in time (see its log lines above)."""


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn options the gateway runs with; httptools and uvloop when installed."""
    options: dict[str, Any] = {
        "host": settings.gateway_host,
        "port": settings.gateway_port,
        "log_config": None,  # our structlog configuration handles uvicorn's loggers
        "access_log": False,  # the summary line per request replaces the access log
        "timeout_keep_alive": 30,
        "lifespan": "on",
    }
    options.update(overrides)
    return uvicorn.Config(app, **options)


def bind_ephemeral(host: str = "127.0.0.1") -> socket.socket:
    """A TCP socket bound to a free port, ready for `uvicorn.Server.serve(sockets=[...])`.

    The protocol must be IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted
    connections only when the listening socket says so, and without it Nagle plus
    delayed ACKs add ~40 ms to every keep-alive request.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    return sock


def serve(settings: Settings) -> None:
    """Run the gateway in the foreground until interrupted."""
    uvicorn.Server(uvicorn_config(create_app(settings, tune_collector=True), settings)).run()


class ServerThread:
    """A gateway served on 127.0.0.1:<ephemeral> from a background thread with its own loop."""

    def __init__(self, app: Any, settings: Settings, **overrides: Any) -> None:
        self._sock = bind_ephemeral()
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(app, settings, port=self.port, **overrides)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)

    def _run(self) -> None:
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:  # uvicorn[standard] brings uvloop; plain asyncio works too
            factory = asyncio.new_event_loop
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(self.server.serve(sockets=[self._sock]))

    def start(self, timeout: float = 30.0) -> ServerThread:
        """Start serving; return once uvicorn accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                msg = f"the gateway did not start on {self.url} within {timeout:.0f}s"
                raise ServerDidNotStart(msg)
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Ask uvicorn to shut down (lifespan included) and wait for the thread."""
        self.server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
