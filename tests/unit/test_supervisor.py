"""The platform supervisor restarts a child that dies and stops all children at the end."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from tatawwu.supervisor import Child, supervise


def test_a_killed_child_is_restarted_and_all_are_stopped_at_the_end(tmp_path: Path) -> None:
    """SIGKILL one child: the supervisor starts it again; when it stops, no child survives."""
    sleeper = [sys.executable, "-c", "import time; time.sleep(60)"]
    children = [Child("a", sleeper, tmp_path / "a.log"), Child("b", sleeper, tmp_path / "b.log")]
    pids: list[int] = []

    def kill_a_soon() -> None:
        time.sleep(1.0)
        assert children[0].proc is not None
        pids.append(children[0].proc.pid)
        os.kill(children[0].proc.pid, signal.SIGKILL)

    killer = threading.Thread(target=kill_a_soon)
    killer.start()
    supervise(children, until=time.monotonic() + 5.0)
    killer.join()
    assert children[0].restarts == 1
    assert children[0].proc is not None
    assert children[0].proc.pid != pids[0]
    assert children[1].restarts == 0
    assert all(c.proc is not None and c.proc.poll() is not None for c in children)
