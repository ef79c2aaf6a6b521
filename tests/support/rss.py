"""Run a command in a child process and measure its wall time and peak resident memory.

`os.wait4` reports the resource use of that one child (RUSAGE_CHILDREN would report the
largest of every child waited for so far), so sizes measured in turn do not mix.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Measured:
    """A finished child: its exit status, wall and CPU seconds, peak RSS and output."""

    returncode: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    stdout: str
    stderr: str


def run_measured(command: list[str], env: dict[str, str] | None = None) -> Measured:
    """Run `command` to completion; its peak RSS from the kernel's accounting (Linux: KiB)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _pid, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        cpu = usage.ru_utime + usage.ru_stime
        return Measured(child.returncode, seconds, cpu, usage.ru_maxrss / 1024,
                        out.read().decode(), err.read().decode())  # fmt: skip
