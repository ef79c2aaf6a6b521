"""Small helpers shared by the local service runners: pid files, ports, waiting."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class ServiceError(RuntimeError):
    """A local service could not be installed, started or stopped; the message says what to do."""


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


RESERVED_PORTS = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def reserve_ports(ports: list[int]) -> list[int]:
    """Keep the kernel from handing these listening ports out as ephemeral client ports.

    Ports in the ephemeral range (32768-60999 here: Kafka's SASL_SSL listener at p + 30000)
    can be taken, for a while, by any outgoing connection, and the broker then fails to bind
    (seen: `Address already in use` for 39812 while other clients ran). Best effort: added to
    `ip_local_reserved_ports` when it is writable (root, as CI and the developers run), else
    nothing. Returns the ports newly reserved.
    """
    try:
        low, high = (int(v) for v in EPHEMERAL_RANGE.read_text().split())
        current = RESERVED_PORTS.read_text().strip()
    except (OSError, ValueError):
        return []
    held: set[int] = set()
    for part in filter(None, current.split(",")):
        first, _, last = part.partition("-")
        held.update(range(int(first), int(last or first) + 1))
    new = sorted({p for p in ports if low <= p <= high} - held)
    if new:
        with contextlib.suppress(OSError):
            RESERVED_PORTS.write_text(",".join(filter(None, [current, *map(str, new)])) + "\n")
            return new
    return []


def log_size(path: Path) -> int:
    """How many bytes a log holds now (0 if none): a mark for `logged_since`."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def logged_since(path: Path, mark: int, text: bytes) -> bool:
    """Whether `text` was written to the log after byte `mark`."""
    try:
        with path.open("rb") as log:
            log.seek(mark)
            return text in log.read()
    except OSError:
        return False


def read_pid(pid_file: Path) -> int | None:
    """The pid recorded in pid_file if that process is still alive, else None."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    # A zombie child still answers kill(0); treat it as gone.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return pid
    return None if state == "Z" else pid


def spawn(cmd: list[str], log_file: Path, pid_file: Path, env: dict[str, str] | None = None) -> int:
    """Start cmd detached in its own session, output to log_file; record and return its pid."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
    pid_file.write_text(f"{proc.pid}\n")
    return proc.pid


def wait_until(
    check: Callable[[], bool], timeout: float, what: str, alive: Callable[[], bool]
) -> None:
    """Poll check() until true; fail fast when the process died, or after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if not alive():
            msg = f"{what} exited during start-up"
            raise ServiceError(msg)
        time.sleep(0.1)
    msg = f"{what} did not become ready within {timeout:.0f}s"
    raise ServiceError(msg)


def stop_pid(pid: int, timeout: float = 30.0, sig: int = signal.SIGTERM) -> bool:
    """Signal pid and wait for it to exit; SIGKILL after timeout. True if it was running."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    while _alive(pid):
        time.sleep(0.05)
    return True


def _alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap our own child so it does not linger as a zombie
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except (OSError, IndexError):
        return False
