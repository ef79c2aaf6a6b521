"""A broker port held for a while by another socket (as an outgoing connection's ephemeral
port can hold Kafka's SASL_SSL port, p + 30000) delays the start; it does not fail it.

Seen on a busy machine: `Socket server failed to bind to 127.0.0.1:39812: Address already in
use`, and every test of that session errored. `KafkaCluster.start` now reserves its ports
against ephemeral use when it may, and tries again when a node died on a taken port.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from infra.local import process
from infra.local.kafka import CONTROLLER_PORT_OFFSET, TAKEN, KafkaCluster
from infra.local.process import port_open
from infra.settings import Settings
from tests.support.ports import free_ports_below_ephemeral

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_a_node_whose_port_is_taken_at_start_comes_up_once_it_is_free(
    stack: Settings, tmp_path: Path
) -> None:
    """The controller port is bound (not listening, like a client's ephemeral port) until
    the node has died on it; the start then succeeds on its next try."""
    port = free_ports_below_ephemeral(0, CONTROLLER_PORT_OFFSET)
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "lib").symlink_to(stack.cache_dir.resolve() / "kafka" / "lib")
    cluster = KafkaCluster(tmp_path, port=port, brokers=1, heap="384m", secure=False)
    holder = socket.socket()
    holder.bind(("127.0.0.1", port + CONTROLLER_PORT_OFFSET))
    log = cluster.node_dir(1) / "kafka.log"
    released = threading.Event()

    def release_once_refused() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not process.logged_since(log, 0, TAKEN):
            time.sleep(0.2)
        holder.close()
        released.set()

    watcher = threading.Thread(target=release_once_refused, daemon=True)
    watcher.start()
    try:
        cluster.start(timeout=90)
        assert released.is_set()
        assert process.logged_since(log, 0, TAKEN)  # the first try did die on the port
        assert port_open(port)
    finally:
        holder.close()
        watcher.join(timeout=130)
        cluster.destroy()


def test_ports_in_the_ephemeral_range_are_reserved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only ports the kernel could hand out are added, to what was reserved already."""
    reserved, span = tmp_path / "reserved", tmp_path / "range"
    reserved.write_text("40000-40002,50000\n")
    span.write_text("32768\t60999\n")
    monkeypatch.setattr(process, "RESERVED_PORTS", reserved)
    monkeypatch.setattr(process, "EPHEMERAL_RANGE", span)
    assert process.reserve_ports([9092, 19092, 39092, 40001, 50000]) == [39092]
    assert reserved.read_text() == "40000-40002,50000,39092\n"
    assert process.reserve_ports([39092]) == []
    reserved.chmod(0o400)
    monkeypatch.setattr(process, "RESERVED_PORTS", tmp_path / "missing" / "file")
    assert process.reserve_ports([45000]) == []  # not writable here: nothing, no error
