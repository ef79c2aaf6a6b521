"""A restart after a SCRAM user was deleted: every other principal still authenticates.

Kafka 4.1.1 rebuilding its metadata image from a log (no snapshot) that created and then
deleted SCRAM users can drop the whole mechanism, the admin included, so the restarted
broker refuses everyone ("invalid credentials"). `tatawwu partners revoke --kafka`
deletes users, so the local cluster snapshots its metadata every few seconds
(`infra/local/kafka.py`); this test fails without that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from infra.kafka import build_producer
from infra.local.kafka import CONTROLLER_PORT_OFFSET, KafkaCluster
from infra.principals import Principals, new_password
from infra.settings import Settings
from tests.support.ports import free_ports_below_ephemeral

pytestmark = [pytest.mark.kafka, pytest.mark.slow]
SNAPSHOT_WAIT_S = 30.0


@pytest.fixture
def cluster(stack: Settings, tmp_path: Path) -> Iterator[KafkaCluster]:
    """A single-node cluster of this test's own (its data under tmp_path), destroyed after."""
    port = free_ports_below_ephemeral(0, CONTROLLER_PORT_OFFSET)
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "lib").symlink_to(stack.cache_dir.resolve() / "kafka" / "lib")
    made = KafkaCluster(tmp_path, port=port, brokers=1, heap="384m")
    try:
        made.start()
        yield made
    finally:
        made.destroy()


def settings_of(stack: Settings, cluster: KafkaCluster) -> Settings:
    return stack.model_copy(
        update={"cache_dir": cluster.cache_dir, "kafka_port": cluster.port, "kafka_brokers": 1}
    )


def latest_snapshot(cluster: KafkaCluster) -> int:
    """The end offset of the newest metadata snapshot on disk (-1: none yet)."""
    log = cluster.node_dir(1) / "data" / "__cluster_metadata-0"
    offsets = [int(path.name.split("-")[0]) for path in log.glob("*.checkpoint")]
    return max(offsets, default=-1)


def test_a_restart_after_deleting_users_keeps_every_other_credential(
    stack: Settings, cluster: KafkaCluster
) -> None:
    """Users made and deleted (as partners are granted and revoked), the broker restarted:
    the admin and a service principal that stayed still connect."""
    settings = settings_of(stack, cluster)
    principals = Principals(settings)
    service_password = new_password()
    principals.set_password("kept-service", service_password)
    for n in range(5):
        principals.set_password(f"partner-gone-{n}", new_password())
    for n in range(5):
        assert principals.delete_user(f"partner-gone-{n}")
    deadline = time.monotonic() + SNAPSHOT_WAIT_S
    for _ in range(2):  # the second new snapshot began after the deletions were committed
        seen = latest_snapshot(cluster)
        while latest_snapshot(cluster) <= seen and time.monotonic() < deadline:
            time.sleep(0.5)
    del principals  # its librdkafka client would retry the stopped broker noisily
    cluster.stop()
    cluster.start(timeout=45)  # waits for metadata as the admin: fails if admin was lost
    assert set(Principals(settings).users()) == {"admin", "kept-service"}
    kept = settings.model_copy(
        update={
            "kafka_sasl_username": "kept-service",
            "kafka_sasl_password": SecretStr(service_password),
        }
    )
    asyncio.run(_connects(kept))


async def _connects(settings: Settings) -> None:
    producer = build_producer(settings, request_timeout_ms=5000, enable_idempotence=False)
    await asyncio.wait_for(producer.start(), 20)
    await producer.stop()
