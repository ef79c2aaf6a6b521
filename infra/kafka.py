"""The one place that builds Kafka clients: the FastStream broker, raw aiokafka clients, topics.

Durability defaults are chosen here, once: producers are idempotent with acks=all
(aiokafka defaults to acks=1 without idempotence), consumers never auto-commit.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faststream.kafka import KafkaBroker
from faststream.security import (
    BaseSecurity,
    SASLPlaintext,
    SASLScram256,
    SASLScram512,
)

from infra.settings import Settings
from schemas.topics import CATALOG, TopicSpec

log = structlog.get_logger(__name__)

CORRELATION_HEADER = "correlation_id"
TOPIC_ALREADY_EXISTS = 36


class TopicsRefused(RuntimeError):
    """The cluster refused to create one or more declared topics."""


def _ssl_context(settings: Settings) -> ssl.SSLContext:
    """TLS to the brokers: the CA from settings (else the system's), a client certificate
    when one is set (mutual TLS), host names checked unless turned off."""
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    context = ssl.create_default_context(cafile=cafile)
    context.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_certfile:
        key_password = settings.kafka_ssl_key_password
        context.load_cert_chain(
            str(settings.kafka_ssl_certfile),
            str(settings.kafka_ssl_keyfile) if settings.kafka_ssl_keyfile else None,
            key_password.get_secret_value() if key_password else None,
        )
    return context


def faststream_security(settings: Settings) -> BaseSecurity | None:
    """SASL/TLS options for FastStream, from settings; None on a plaintext cluster."""
    protocol = settings.kafka_protocol
    if protocol == "PLAINTEXT":
        return None
    context = _ssl_context(settings) if protocol.endswith("SSL") else None
    if protocol == "SSL":
        return BaseSecurity(ssl_context=context, use_ssl=True)
    classes = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}
    return classes[settings.kafka_sasl_mechanism](
        username=settings.kafka_username,
        password=settings.kafka_password(),
        ssl_context=context,
        use_ssl=protocol == "SASL_SSL",
    )


def aiokafka_security(settings: Settings) -> dict[str, Any]:
    """The same SASL/TLS options as keyword arguments for raw aiokafka clients."""
    protocol = settings.kafka_protocol
    if protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol.endswith("SSL"):
        options["ssl_context"] = _ssl_context(settings)
    if protocol.startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        options["sasl_plain_username"] = settings.kafka_username
        options["sasl_plain_password"] = settings.kafka_password()
    return options


def build_broker(settings: Settings, **overrides: Any) -> KafkaBroker:
    """The FastStream broker every app uses: idempotent producer, acks=all, no topic auto-create."""
    options: dict[str, Any] = {
        "client_id": settings.kafka_client_id,
        "enable_idempotence": True,
        "acks": "all",
        "allow_auto_create_topics": False,
        "security": faststream_security(settings),
        "request_timeout_ms": 15_000,
        "graceful_timeout": 15.0,
    }
    options.update(overrides)
    return KafkaBroker(settings.bootstrap_servers, **options)


def build_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """A raw idempotent producer (acks=all) for high-throughput publishers."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.kafka_client_id,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "request_timeout_ms": 15_000,
        **aiokafka_security(settings),
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


def build_consumer(settings: Settings, *topics: str, **overrides: Any) -> AIOKafkaConsumer:
    """A raw consumer with auto-commit off: offsets are committed deliberately or kept in PostgreSQL."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.kafka_client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        **aiokafka_security(settings),
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


def build_admin(settings: Settings) -> AIOKafkaAdminClient:
    """An admin client for topic management and lag inspection."""
    return AIOKafkaAdminClient(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=f"{settings.kafka_client_id}-admin",
        request_timeout_ms=15_000,
        **aiokafka_security(settings),
    )


async def topic_partitions(settings: Settings, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of these topics as the cluster describes them now (none if absent).

    Through the admin client's public `describe_topics`, asked for every topic: asking
    by name would create a missing topic on a cluster that auto-creates them.
    """
    wanted = set(topics)
    if not wanted:
        return []
    admin = build_admin(settings)
    await admin.start()
    try:
        described = await admin.describe_topics()
    finally:
        await admin.close()
    return sorted(
        TopicPartition(t["topic"], p["partition"])
        for t in described if t["topic"] in wanted
        for p in t["partitions"]
    )  # fmt: skip


async def end_offsets(
    settings: Settings,
    *,
    topics: Iterable[str] = (),
    partitions: Iterable[TopicPartition] = (),
    consumer: AIOKafkaConsumer | None = None,
) -> dict[TopicPartition, int]:
    """The end offset (the next offset to be written) of these partitions and topics, now.

    The one way the platform asks: `topics` are resolved to all their partitions, and a
    running `consumer` is used when given (none is started then).
    """
    wanted = set(partitions)
    if topics:
        wanted.update(await topic_partitions(settings, topics))
    if not wanted:
        return {}
    if consumer is not None:
        return dict(await consumer.end_offsets(sorted(wanted)))
    consumer = build_consumer(settings)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(sorted(wanted)))
    finally:
        await consumer.stop()


async def ensure_topics(
    settings: Settings, catalog: Iterable[TopicSpec] = CATALOG, replication: int | None = None
) -> list[str]:
    """Create the declared topics that do not exist yet; return the names created.

    Idempotent: an existing topic is left as it is. Raises TopicsRefused naming every
    topic the cluster refused and why (for example not enough brokers for the factor).
    """
    admin = build_admin(settings)
    await admin.start()
    try:
        brokers = len((await admin.describe_cluster())["brokers"])
        rf = replication or min(3, brokers)
        isr = 2 if rf >= 3 else 1
        existing = set(await admin.list_topics())
        wanted = [spec for spec in catalog if spec.name not in existing]
        if not wanted:
            return []
        new = [
            NewTopic(spec.name, spec.partitions, rf, topic_configs=spec.topic_config(isr))
            for spec in wanted
        ]
        response = await admin.create_topics(new, timeout_ms=30_000)
    finally:
        await admin.close()
    refused, created = [], []
    for entry in response.topic_errors:
        name, code = entry[0], entry[1]
        message = entry[2] if len(entry) > 2 else ""
        if code == 0:
            created.append(name)
        elif code != TOPIC_ALREADY_EXISTS:  # a concurrent creator got there first: fine
            refused.append(f"{name}: error {code} {message or ''}".strip())
    if refused:
        msg = "the Kafka cluster refused to create topics: " + "; ".join(refused)
        raise TopicsRefused(msg)
    await wait_for_leaders(settings, created)
    log.info("topics_created", topics=created, replication=rf)
    return created


async def wait_for_leaders(settings: Settings, topics: list[str], wait_s: float = 30.0) -> None:
    """Wait until every partition of the topics has a leader (creation propagates async)."""
    if not topics:
        return
    admin = build_admin(settings)
    await admin.start()
    try:
        deadline = asyncio.get_running_loop().time() + wait_s
        while True:
            described = await admin.describe_topics(topics)
            ready = all(
                t["error_code"] == 0 and t["partitions"]
                and all(p["leader"] >= 0 for p in t["partitions"])
                for t in described
            )  # fmt: skip
            if ready:
                return
            if asyncio.get_running_loop().time() > deadline:
                msg = f"topics {topics} have no leader after {wait_s:.0f}s"
                raise TopicsRefused(msg)
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _cluster_answers(bootstrap: str, brokers: int, options: dict[str, Any]) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **options)
    try:
        await asyncio.wait_for(admin.start(), 5)
        cluster = await asyncio.wait_for(admin.describe_cluster(), 5)
        return len(cluster["brokers"]) >= brokers and cluster.get("controller_id", -1) != -1
    except Exception:
        return False
    finally:
        await admin.close()


def cluster_answers(bootstrap: str, brokers: int = 1, **options: Any) -> bool:
    """True when the cluster at bootstrap serves metadata naming at least `brokers` brokers.

    `options`: the aiokafka security arguments to connect with (SASL on a secured cluster).
    """
    return asyncio.run(_cluster_answers(bootstrap, brokers, options))
