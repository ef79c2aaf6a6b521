"""SASL_SSL on the real local broker: the platform's clients over TLS, from settings alone.

The local cluster's second client listener (port + 30000) speaks SASL_SSL with the
cluster's own CA (`infra.local.tls`). Every test connects to it through the settings a
production process would be given (`TATAWWU_KAFKA_SECURITY_PROTOCOL=SASL_SSL`, the CA,
a client certificate), so what is tested is the code that builds the clients.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import pytest
from aiokafka.errors import KafkaConnectionError
from pydantic import SecretStr

from infra.kafka import _ssl_context, build_broker, build_consumer, build_producer, ensure_topics
from infra.local.kafka import ADMIN, KafkaCluster
from infra.local.stack import kafka_cluster
from infra.local.tls import LocalTLS
from infra.principals import client_config
from infra.settings import Settings
from schemas.topics import TopicSpec

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture(scope="module")
def cluster(stack: Settings) -> KafkaCluster:
    if stack.kafka_is_external:
        pytest.skip(
            "the SASL_SSL listener is the local cluster's; an external one is the operator's"
        )
    return kafka_cluster(stack)


def over_tls(stack: Settings, cluster: KafkaCluster, **changes: object) -> Settings:
    """Settings a production process would get: SASL_SSL, SCRAM, the CA and a client certificate."""
    tls = cluster.tls
    update: dict[str, object] = {
        "kafka_bootstrap": cluster.ssl_bootstrap,
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": ADMIN,
        "kafka_sasl_password": SecretStr(cluster.admin_password()),
        "kafka_ssl_cafile": tls.ca_file,
        "kafka_ssl_certfile": tls.client_cert_file,
        "kafka_ssl_keyfile": tls.client_key_file,
    }
    return stack.model_copy(update=update | changes)


@pytest.fixture(scope="module")
def tls_settings(stack: Settings, cluster: KafkaCluster) -> Settings:
    return over_tls(stack, cluster)


@pytest.fixture
async def topic(tls_settings: Settings, unique: str) -> str:
    """A one-partition topic of this test's own, created over SASL_SSL (the admin client)."""
    spec = TopicSpec(f"test.tls.{unique}", key="k", partitions=1)
    assert await ensure_topics(tls_settings, [spec]) == [spec.name]
    return spec.name


async def test_aiokafka_producer_and_consumer_round_trip_over_sasl_ssl(
    tls_settings: Settings, topic: str
) -> None:
    """build_producer writes and build_consumer reads one record over TLS with SCRAM."""
    producer = build_producer(tls_settings)
    await producer.start()
    try:
        meta = await producer.send_and_wait(topic, b'{"n": 1}', key=b"k1", headers=[("h", b"v")])
    finally:
        await producer.stop()
    consumer = build_consumer(tls_settings, topic)
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
    finally:
        await consumer.stop()
    assert (record.offset, record.key, record.value) == (meta.offset, b"k1", b'{"n": 1}')
    assert list(record.headers) == [("h", b"v")]


async def test_faststream_broker_publishes_and_subscribes_over_sasl_ssl(
    tls_settings: Settings, topic: str, unique: str
) -> None:
    """The FastStream broker every app builds (build_broker) publishes, and its subscriber
    receives, over TLS with SCRAM."""
    broker = build_broker(tls_settings)
    received: asyncio.Future[dict[str, str]] = asyncio.get_running_loop().create_future()

    @broker.subscriber(topic, group_id=f"test-tls-{unique}", auto_offset_reset="earliest")
    async def handle(body: dict[str, str]) -> None:
        if not received.done():
            received.set_result(body)

    await broker.start()
    try:
        await broker.publish(b'{"via": "faststream"}', topic, key=b"k2")
        body = await asyncio.wait_for(received, 30)
    finally:
        await broker.stop()
    assert body == {"via": "faststream"}


def test_librdkafka_lists_topics_over_sasl_ssl(
    stack: Settings, cluster: KafkaCluster, topic: str
) -> None:
    """confluent-kafka, configured by `client_config(settings)`, lists the topics over TLS;
    bootstrapping by the name `localhost` checks the certificate's DNS name too."""
    from confluent_kafka.admin import AdminClient

    port = cluster.ssl_port(1)
    settings = over_tls(stack, cluster, kafka_bootstrap=f"localhost:{port}")
    config = client_config(settings)
    assert config["security.protocol"] == "sasl_ssl"
    assert "ssl.endpoint.identification.algorithm" not in config  # host names are checked
    metadata = AdminClient(config).list_topics(timeout=20)
    assert topic in metadata.topics


async def test_a_client_trusting_another_ca_is_refused(
    stack: Settings, cluster: KafkaCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker's certificate does not verify against a CA that did not sign it: the TLS
    handshake fails and no client of the platform gets a connection."""
    stranger = LocalTLS(tmp_path / "other-ca", name="Some other")
    stranger.ensure()
    settings = over_tls(stack, cluster, kafka_ssl_cafile=stranger.ca_file)
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        await _handshake(settings, cluster.ssl_port(1))
    producer = build_producer(settings, request_timeout_ms=5000)
    try:
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(producer.start(), 30)
    finally:
        await producer.stop()
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


async def test_a_client_certificate_from_another_ca_is_refused(
    stack: Settings, cluster: KafkaCluster, tmp_path: Path
) -> None:
    """`ssl.client.auth=requested`: a certificate offered is verified, and the broker
    refuses one its CA did not sign; the same client without a certificate gets in."""
    stranger = LocalTLS(tmp_path / "other-ca", name="Some other")
    stranger.ensure()
    foreign = over_tls(
        stack, cluster,
        kafka_ssl_certfile=stranger.client_cert_file, kafka_ssl_keyfile=stranger.client_key_file,
    )  # fmt: skip
    with pytest.raises(ssl.SSLError, match=r"(?i)unknown ca|certificate"):
        await _handshake(foreign, cluster.ssl_port(1), read=True)
    anonymous = over_tls(stack, cluster, kafka_ssl_certfile=None, kafka_ssl_keyfile=None)
    producer = build_producer(anonymous)
    await asyncio.wait_for(producer.start(), 30)
    await producer.stop()


async def test_a_wrong_password_is_refused_over_sasl_ssl(
    stack: Settings, cluster: KafkaCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """TLS succeeds, SCRAM does not: the producer never starts, and the broker said why."""
    settings = over_tls(stack, cluster, kafka_sasl_password=SecretStr("not-the-password"))
    producer = build_producer(settings, request_timeout_ms=5000)
    try:
        with pytest.raises(KafkaConnectionError):
            await asyncio.wait_for(producer.start(), 30)
    finally:
        await producer.stop()
    assert "SaslAuthenticationFailed" in caplog.text
    assert "invalid credentials" in caplog.text


async def _handshake(settings: Settings, port: int, *, read: bool = False) -> None:
    """Open a TLS connection with the settings' context (`infra.kafka._ssl_context`).

    With `read`, wait for the broker's first word: under TLS 1.3 a client learns that its
    certificate was refused only from an alert it reads after the handshake.
    """
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection("127.0.0.1", port, ssl=_ssl_context(settings)), 15
    )
    try:
        if read:
            await asyncio.wait_for(reader.read(1), 15)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
