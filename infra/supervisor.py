"""Run the whole platform as child processes, restart what dies, stop everything together.

`tatawwu platform run` (and `make demo`) starts the gateway, one process per
projector (each its own consumer group, static membership, Prometheus metrics on
its own port), the notifier and, on the local defaults, the SMTP and SMS sinks; restarts a crashed child with backoff, and on SIGINT/SIGTERM stops
every child with SIGTERM so each finishes its batch in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import structlog

log = structlog.get_logger(__name__)
METRICS_BASE_PORT = 9300


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    log_file: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_start: float = 0.0
    started_at: float = field(default=0.0)

    def start(self) -> None:
        with self.log_file.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT)
        self.started_at = time.monotonic()


def platform_children(
    projectors: list[str],
    log_dir: Path,
    gateway: bool = True,
    notifier: bool = True,
    sinks: bool = False,
) -> list[Child]:
    """The gateway, one process per projector, the notifier (and the local SMTP/SMS
    sinks), logging to log_dir."""
    log_dir.mkdir(parents=True, exist_ok=True)
    python = [sys.executable, "-m", "infra"]
    children = []
    if gateway:
        children.append(Child("gateway", [*python, "gateway"], log_dir / "gateway.log"))
    import importlib.util

    if sinks and importlib.util.find_spec("infra.local.sinks") is not None:
        children.append(Child("sinks", [*python, "sinks", "run"], log_dir / "sinks.log"))
    if notifier:
        argv = [*python, "notifications", "run", "--instance-id", "notifier-1"]
        children.append(Child("notifier", argv, log_dir / "notifier.log"))

    if importlib.util.find_spec("consumers.api") is not None:
        children.append(Child("read-api", [*python, "api"], log_dir / "read-api.log"))
    for n, name in enumerate(projectors):
        argv = [*python, "projections", "run", name, "--instance-id", f"{name}-1",
                "--metrics-port", str(METRICS_BASE_PORT + n)]  # fmt: skip
        children.append(Child(f"projector:{name}", argv, log_dir / f"projector-{name}.log"))
    return children


def supervise(children: list[Child], until: float | None = None) -> None:
    """Keep the children running until a signal (or `until`, a monotonic deadline)."""
    stopping = False

    def stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for child in children:
        child.start()
        log.info("child_started", child=child.name, pid=child.proc.pid if child.proc else None)
    try:
        while not stopping and (until is None or time.monotonic() < until):
            for child in children:
                if child.proc is None:  # waiting for its restart
                    continue
                code = child.proc.poll()
                if code is None:
                    continue
                child.restarts += 1
                backoff = min(30.0, 2 ** min(child.restarts, 5))
                # A child that ran for a while before dying earns a fresh backoff.
                if time.monotonic() - child.started_at > 60:
                    child.restarts, backoff = 1, 1.0
                log.warning("child_exited", child=child.name, code=code, restart_in_s=backoff)
                child.next_start = time.monotonic() + backoff
                child.proc = None
            for child in children:
                if child.proc is None and time.monotonic() >= child.next_start:
                    child.start()
            time.sleep(0.5)
    finally:
        for child in children:
            if child.proc and child.proc.poll() is None:
                child.proc.send_signal(signal.SIGTERM)
        for child in children:
            if child.proc:
                try:
                    child.proc.wait(30)
                except subprocess.TimeoutExpired:
                    child.proc.kill()
        log.info("platform_stopped", pid=os.getpid())
