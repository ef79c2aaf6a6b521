"""Run the whole platform as child processes, restart what dies, stop everything together.

`tatawwu platform run` (and `make demo`) starts the processes the manifest
declares: the gateway, the read API, one process per projector (each its own
consumer group, static membership, `/health`, `/ready` and `/metrics` on its own
metrics port), the notifier (the same, on its own port) and, on the local defaults,
the SMTP and SMS sinks; restarts a crashed child with backoff, and on SIGINT/SIGTERM
stops every child with SIGTERM so each finishes its batch in flight.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:  # the manifest imports every component: not needed to supervise
    from infra.settings import Settings
    from tatawwu.manifest import Process

log = structlog.get_logger(__name__)


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
    env: dict[str, str] = field(default_factory=dict)  # over ours: e.g. its Kafka principal

    def start(self) -> None:
        env = {**os.environ, **self.env} if self.env else None
        with self.log_file.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, stdout=out, stderr=subprocess.STDOUT, env=env)
        self.started_at = time.monotonic()


def platform_children(
    processes: Iterable[Process], log_dir: Path, settings: Settings | None = None
) -> list[Child]:
    """One child per declared process (`tatawwu.manifest`), each logging to log_dir.

    With `settings` of a local stack, each connects to Kafka as its own service principal
    (`infra.local.principals`), as it would in production.
    """
    from infra.local.principals import service_env

    log_dir.mkdir(parents=True, exist_ok=True)
    return [
        Child(
            p.name,
            p.argv(),
            log_dir / f"{p.log_stem}.log",
            env=service_env(settings, p.principal) if settings else {},
        )
        for p in processes
    ]


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
