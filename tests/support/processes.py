"""The platform's processes run as the operator runs them (`python -m tatawwu ...`), each
with its output (stdout and stderr, the structlog lines included) captured to a file."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from infra.local.process import stop_pid
from infra.settings import PROJECT_ROOT, Settings, child_env

STOP_WAIT_S = 30.0


class Processes:
    """Started processes and their log files; `stop_all` ends each by its own pid."""

    def __init__(self, settings: Settings, logs: Path, **env: str) -> None:
        self.env = {**child_env(settings), "TATAWWU_LOG_FORMAT": "json", **env}
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *argv: str, module: str = "tatawwu") -> subprocess.Popen[bytes]:
        """`python -m module argv...`, its output appended to `<logs>/<name>.log`."""
        with (self.logs / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", module, *argv], cwd=PROJECT_ROOT,
                                    stdout=out, stderr=subprocess.STDOUT, env=self.env)  # fmt: skip
        self.running[name] = proc
        return proc

    def check(self) -> None:
        """Raise if a process ended by itself (with the end of its log)."""
        for name, proc in self.running.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text()[-3000:]
                msg = f"{name} exited with {proc.returncode}:\n{tail}"
                raise AssertionError(msg)

    async def finish(self, name: str, wait_s: float = 120.0) -> int:
        """Wait for a command that ends by itself (`volunteers erase`); its exit code."""
        proc = self.running[name]
        code = await asyncio.to_thread(proc.wait, wait_s)
        del self.running[name]
        return code

    async def stop(self, name: str) -> int:
        """SIGTERM, wait (the batch in flight finishes), SIGKILL past STOP_WAIT_S."""
        proc = self.running.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        for _ in range(int(STOP_WAIT_S * 10)):
            if proc.poll() is not None:
                break
            await asyncio.sleep(0.1)
        else:
            proc.kill()
        return proc.wait()

    async def stop_all(self) -> dict[str, int]:
        """Stop every process still running; their exit codes."""
        codes = {}
        for name in list(self.running):
            codes[name] = await self.stop(name)
        return codes

    def log_files(self) -> Iterator[Path]:
        return iter(sorted(self.logs.glob("*.log")))


@contextlib.asynccontextmanager
async def processes(settings: Settings, logs: Path, **env: str):  # type: ignore[no-untyped-def]
    """`Processes`, every one still running stopped on exit."""
    started = Processes(settings, logs, **env)
    try:
        yield started
    finally:
        await started.stop_all()


def _leftovers() -> list[int]:
    """`platform run` supervisors, then `python -m tatawwu` processes whose parent is gone
    (a supervisor killed before its children: they keep their groups and ports)."""
    found: list[tuple[bool, int]] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if b"tatawwu" not in args:
            continue
        supervisor = b"platform" in args and b"run" in args
        if supervisor or parent == 1:
            found.append((not supervisor, int(entry.name)))
    return [pid for _, pid in sorted(found)]  # supervisors first: each stops its children


def end_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL whatever is left of a platform started in its own session (`start_new_session`):
    children its supervisor did not stop (it was killed, or timed out)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


def stop_leftover_platforms(grace_s: float = 30.0) -> list[int]:
    """Stop what an earlier test's platform left running (SIGTERM, SIGKILL after
    `grace_s`): two routers (or notifiers) with one static member id fence each other out
    of their group for as long as both live, and a later platform test waits in vain."""
    pids = _leftovers()
    for pid in pids:
        stop_pid(pid, timeout=grace_s)
    return pids
