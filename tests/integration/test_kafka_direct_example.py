"""The partners' example script, run as a partner would, against the real local broker.

A real partner principal is made with the code `tatawwu partners add ORG --kafka` runs;
the script (`producers/examples/kafka_direct.py`) runs in its own process with only the
environment the README tells a partner to set, over SASL_PLAINTEXT and over SASL_SSL with
the cluster's CA; the ingress topic is then read as admin, records compared byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.errors import TopicAuthorizationFailedError
from pydantic import SecretStr

from infra.kafka import build_admin, build_consumer, build_producer
from infra.local.stack import kafka_cluster
from infra.settings import Settings
from producers.examples import kafka_direct
from schemas.examples import example
from tatawwu.partners import DirectAccess, grant_direct_access, revoke_direct_access

pytestmark = pytest.mark.usefixtures("stack")
SCRIPT = Path(kafka_direct.__file__)
ACL_WAIT_S = 15.0


@pytest.fixture
def partner(stack: Settings, unique: str) -> Iterator[DirectAccess]:
    """A Kafka-direct partner with its ingress topic; revoked and its topic deleted after."""
    if stack.kafka_is_external:
        pytest.skip("makes principals and reads the local cluster's CA")
    access = grant_direct_access(stack, f"example-{unique}")
    try:
        yield access
    finally:
        revoke_direct_access(stack, access.org_id)
        asyncio.run(_delete_topic(stack, access.topic))


async def _delete_topic(settings: Settings, topic: str) -> None:
    admin = build_admin(settings)
    await admin.start()
    try:
        if topic in await admin.list_topics():
            await admin.delete_topics([topic])
    finally:
        await admin.close()


async def _wait_until_allowed(stack: Settings, access: DirectAccess) -> None:
    """ACLs reach the authorizer through the metadata log: wait until the partner may
    describe its topic (granted with WRITE, in the same request) without writing to it."""
    settings = stack.model_copy(
        update={
            "kafka_sasl_username": access.principal,
            "kafka_sasl_password": SecretStr(access.password),
        }
    )
    producer = build_producer(settings, request_timeout_ms=5000)
    await producer.start()
    try:
        deadline = asyncio.get_running_loop().time() + ACL_WAIT_S
        while True:
            try:
                await producer.partitions_for(access.topic)
                return
            except TopicAuthorizationFailedError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.3)
    finally:
        await producer.stop()


def partner_events(org: str) -> list[dict[str, object]]:
    """What a partner would send: its registration and a check-in, Arabic text included."""
    registered = example("organization.registered")
    registered["data"] = dict(registered["data"], org_id=org)  # type: ignore[call-overload]
    checked_in = example("volunteer.checked_in")
    return [
        event | {"source": f"partner/{org}", "id": f"evt-{n}"}
        for n, event in enumerate([registered | {"subject": org}, checked_in])
    ]


@pytest.mark.parametrize(
    ("protocol", "binary"),
    [("SASL_PLAINTEXT", False), ("SASL_SSL", False), ("SASL_SSL", True)],
)
async def test_the_example_publishes_as_the_partner(
    stack: Settings, partner: DirectAccess, tmp_path: Path, protocol: str, binary: bool
) -> None:
    """Every event is acknowledged and lands on the partner's ingress topic as the README
    says: keyed by subject, the line's exact bytes with the structured content type, or
    `ce_*` headers and the data (binary mode); nothing of the events is printed."""
    await _wait_until_allowed(stack, partner)
    events = partner_events(partner.org_id)
    lines = [json.dumps(event, ensure_ascii=False) for event in events]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    cluster = kafka_cluster(stack)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "KAFKA_BOOTSTRAP": cluster.ssl_bootstrap if protocol == "SASL_SSL" else cluster.bootstrap,
        "KAFKA_SECURITY_PROTOCOL": protocol,
        "TATAWWU_ORG": partner.org_id,
        "KAFKA_PASSWORD": partner.password,
        "KAFKA_CA_FILE": str(cluster.tls.ca_file),
    }
    args = [sys.executable, str(SCRIPT), str(source), *(["--binary"] if binary else [])]
    done = await asyncio.to_thread(
        subprocess.run, args, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "2 of 2 events acknowledged (0 lines skipped)"
    for private in ("Qatar Red Crescent", "الهلال", partner.password):
        assert private not in done.stdout + done.stderr
    records = await _read_all(stack, partner.topic, len(events))
    assert [r.key for r in records] == [str(e["subject"]).encode() for e in events]
    for record, event, line in zip(records, events, lines, strict=True):
        headers = dict(record.headers)
        if binary:
            assert json.loads(record.value) == event["data"]
            assert headers["ce_id"] == str(event["id"]).encode()
            assert headers["ce_source"] == f"partner/{partner.org_id}".encode()
            assert headers["content-type"] == b"application/json"
        else:
            assert record.value == line.encode()
            assert list(record.headers) == [("content-type", b"application/cloudevents+json")]


async def _read_all(settings: Settings, topic: str, count: int) -> list:  # type: ignore[type-arg]
    """The first `count` records of the topic, read as admin (30 s at most)."""
    consumer = build_consumer(settings, topic)
    await consumer.start()
    records = []
    try:
        deadline = asyncio.get_running_loop().time() + 30
        while len(records) < count and asyncio.get_running_loop().time() < deadline:
            batch = await consumer.getmany(timeout_ms=1000)
            records += [r for part in batch.values() for r in part]
    finally:
        await consumer.stop()
    return records


def kcat_config(path: Path, **values: str) -> dict[str, str]:
    """The README's kcat settings file as librdkafka reads it, with `values` filled in."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    pairs = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert values.keys() <= pairs.keys(), "the file no longer has these settings"
    return pairs | values


async def test_the_readme_kcat_settings_work_through_librdkafka(
    stack: Settings, partner: DirectAccess
) -> None:
    """`producers/examples/kcat.conf`, its four values filled in, is a working librdkafka
    configuration: a partner's record with its header is delivered over SASL_SSL (kcat
    itself is not run: Debian's links librdkafka 2.0.2, which fails SCRAM against Kafka 4)."""
    from confluent_kafka import Producer

    await _wait_until_allowed(stack, partner)
    cluster = kafka_cluster(stack)
    config = kcat_config(
        SCRIPT.with_name("kcat.conf"),
        **{
            "bootstrap.servers": cluster.ssl_bootstrap,
            "sasl.username": partner.principal,
            "sasl.password": partner.password,
            "ssl.ca.location": str(cluster.tls.ca_file),
        },
    )
    assert config["security.protocol"] == "SASL_SSL"
    event = partner_events(partner.org_id)[0]
    value = json.dumps(event, ensure_ascii=False).encode()
    delivered: list[object] = []

    def deliver() -> None:
        producer = Producer(config)
        producer.produce(
            partner.topic, value, key=str(event["subject"]).encode(),
            headers=[("content-type", b"application/cloudevents+json")],
            on_delivery=lambda error, message: delivered.append(error or message.offset()),
        )  # fmt: skip
        assert producer.flush(30) == 0

    await asyncio.to_thread(deliver)
    assert delivered == [0]
    [record] = await _read_all(stack, partner.topic, 1)
    assert (record.key, record.value) == (str(event["subject"]).encode(), value)
