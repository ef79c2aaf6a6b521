"""Ports picked at run time, so the suite can run beside another stack on the machine.

`free_port` asks the kernel for any free port (fine for a server started at once and
never restarted). A server a test stops and starts again (Kafka, PostgreSQL) gets one
from `free_ports_below_ephemeral`: above Linux's ephemeral range (32768+) an outgoing
connection's source port could take the address while the server is down.
"""

from __future__ import annotations

import random
import socket

EPHEMERAL_LOW = 32768
LOW = 20000


def free_port(host: str = "127.0.0.1") -> int:
    """A port on host that nothing listens on right now (the kernel's pick)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _is_free(port: int, host: str) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_ports_below_ephemeral(*offsets: int, host: str = "127.0.0.1") -> int:
    """A base port p, below the ephemeral range, where p + each offset is free now.

    `free_ports_below_ephemeral(0, 10000)` gives a Kafka broker port whose controller
    port (p + 10000) is free too; no offsets means just p.
    """
    offsets = offsets or (0,)
    high = EPHEMERAL_LOW - max(offsets)
    if high <= LOW:
        msg = f"offsets {offsets} leave no room below {EPHEMERAL_LOW}"
        raise ValueError(msg)
    candidates = list(range(LOW, high))
    random.shuffle(candidates)  # two runs side by side rarely try the same ports
    for port in candidates[:2000]:
        if all(_is_free(port + offset, host) for offset in offsets):
            return port
    msg = f"no free port between {LOW} and {high} with offsets {offsets}"
    raise RuntimeError(msg)
