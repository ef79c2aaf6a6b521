"""Kafka ACLs on the real broker: a direct partner writes only to its own ingress topic.

Each test makes partners with unique ids through the same code `tatawwu partners add
--kafka` runs (`tatawwu.partners`), connects as them with aiokafka (SCRAM), and checks
what the broker itself refuses. Their principals and topics are removed afterwards.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.admin import RecordsToDelete
from aiokafka.errors import (
    TopicAuthorizationFailedError,
)

from infra.kafka import build_admin, build_producer
from infra.local.principals import service_password
from infra.settings import Settings
from schemas.topics import DEADLETTER, NOTIFICATIONS, VOLUNTEERS, ingress_topic
from tatawwu.partners import DirectAccess, grant_direct_access, revoke_direct_access
from tests.support.principals import ACL_WAIT_S, as_principal, eventually_writes

pytestmark = pytest.mark.usefixtures("stack")


@pytest.fixture
def partners(stack: Settings, unique: str) -> Callable[[str], DirectAccess]:
    """Grant direct access to partners named `<name>-<unique>`; revoke and delete after."""
    made: list[str] = []

    def grant(name: str) -> DirectAccess:
        org = f"{name}-{unique}"
        made.append(org)
        return grant_direct_access(stack, org)

    yield grant  # type: ignore[misc]
    for org in made:
        revoke_direct_access(stack, org)
    asyncio.run(_delete_topics(stack, [ingress_topic(org) for org in made]))


async def _delete_topics(settings: Settings, topics: list[str]) -> None:
    admin = build_admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        if gone := [t for t in topics if t in existing]:
            await admin.delete_topics(gone)
    finally:
        await admin.close()


async def granted(grant: Callable[[str], DirectAccess], *names: str) -> list[DirectAccess]:
    """Direct access for each name (blocking admin calls: off the event loop)."""
    return [await asyncio.to_thread(grant, name) for name in names]


@asynccontextmanager
async def producer_as(settings: Settings, **options: Any) -> AsyncIterator[AIOKafkaProducer]:
    producer = build_producer(settings, request_timeout_ms=5000, **options)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


async def _write_until_refused(producer: AIOKafkaProducer, topic: str) -> None:
    """Write until the broker refuses (the revocation reached its authorizer) or time out."""
    deadline = asyncio.get_running_loop().time() + ACL_WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        await producer.send_and_wait(topic, b"{}", key=b"k")
        await asyncio.sleep(0.3)


async def test_a_partner_writes_only_to_its_own_ingress_topic(
    stack: Settings, partners: Callable[[str], DirectAccess]
) -> None:
    """Its own ingress topic: yes. A canonical topic, the dead-letter and notification
    topics, another partner's ingress topic: the broker refuses."""
    alpha, beta = await granted(partners, "alpha", "beta")
    async with producer_as(as_principal(stack, alpha.principal, alpha.password)) as producer:
        await eventually_writes(producer, alpha.topic)
        for forbidden in (VOLUNTEERS.name, DEADLETTER.name, NOTIFICATIONS.name, beta.topic):
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(forbidden, b"{}", key=b"k")


async def test_a_partner_cannot_read_ingress_topics(
    stack: Settings, partners: Callable[[str], DirectAccess]
) -> None:
    """Neither another partner's ingress topic nor a canonical topic can be read."""
    alpha, beta = await granted(partners, "alpha", "beta")
    async with producer_as(as_principal(stack, beta.principal, beta.password)) as producer:
        await eventually_writes(producer, beta.topic)
    spy = as_principal(stack, alpha.principal, alpha.password)
    group = f"spy-{alpha.org_id}"
    for topic in (beta.topic, VOLUNTEERS.name):  # without a group of its own: refused there
        error = await asyncio.to_thread(_read_error, spy, topic, group)
        assert error == "GROUP_AUTHORIZATION_FAILED"
    # Lent a consumer group for this test, so that only the topic's ACLs can refuse it.
    await asyncio.to_thread(_lend_group, stack, alpha.principal, group)
    for topic in (beta.topic, VOLUNTEERS.name):
        error = await asyncio.to_thread(_read_error, spy, topic, group)
        assert error == "TOPIC_AUTHORIZATION_FAILED"


def _lend_group(settings: Settings, principal: str, group: str) -> None:
    from confluent_kafka.admin import AclOperation, ResourceType

    from infra.principals import Grant, Principals

    Principals(settings).grant(principal, [Grant(ResourceType.GROUP, group, (AclOperation.READ,))])
    time.sleep(2)  # the ACL reaches the authorizer through the metadata log


def _read_error(settings: Settings, topic: str, group: str) -> str:
    """The error a librdkafka consumer in `group` gets reading `topic` from the start."""
    from confluent_kafka import Consumer

    from infra.principals import client_config

    config = client_config(settings) | {
        "group.id": group, "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    }  # fmt: skip
    consumer = Consumer(config)
    try:
        consumer.subscribe([topic])
        for _ in range(20):
            message = consumer.poll(1.0)
            if message is None:
                continue
            error = message.error()
            return error.name() if error else "READ_A_RECORD"
        return "NOTHING_WITHIN_20S"
    finally:
        consumer.close()


async def test_a_revoked_partner_can_no_longer_write(
    stack: Settings, partners: Callable[[str], DirectAccess]
) -> None:
    """Revocation takes effect on a connection the partner already holds, and a new
    connection is refused at authentication."""
    (alpha,) = await granted(partners, "alpha")
    settings = as_principal(stack, alpha.principal, alpha.password)
    async with producer_as(settings) as producer:
        await eventually_writes(producer, alpha.topic)
        acls, deleted = await asyncio.to_thread(revoke_direct_access, stack, alpha.org_id)
        assert (acls, deleted) == (2, True)
        with pytest.raises(TopicAuthorizationFailedError):
            await _write_until_refused(producer, alpha.topic)
    fresh = build_producer(settings, request_timeout_ms=5000)
    with pytest.raises(Exception, match=r"(?i)auth|sasl|credential|connection"):
        await asyncio.wait_for(fresh.start(), 20)
    await fresh.stop()


async def test_service_principals_hold_only_their_own_rights(stack: Settings) -> None:
    """The gateway holds WRITE on the canonical topics (not written here: other tests read
    them); the projector, read API and notifier principals are refused a write there."""
    from confluent_kafka.admin import AclOperation

    from infra.principals import Principals

    granted = await asyncio.to_thread(Principals(stack).acls, "gateway")
    assert any(a.name == VOLUNTEERS.name and a.operation == AclOperation.WRITE for a in granted)
    assert not any(a.operation == AclOperation.READ for a in granted)
    for name in ("projector", "read-api", "notifier"):
        service = as_principal(stack, name, service_password(stack, name) or "")
        # Not idempotent: read-api may write nothing at all, so it would be refused a
        # producer id before any topic is named.
        async with producer_as(service, enable_idempotence=False, acks=1) as producer:
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(VOLUNTEERS.name, b"{}", key=b"k")


async def test_the_router_may_delete_ingress_records_and_a_partner_may_not(
    stack: Settings, partners: Callable[[str], DirectAccess]
) -> None:
    """DeleteRecords on a partner's ingress topic: the router's trim of what it has routed
    (infra/ingress.py) is allowed; the partner, who may write there, may not delete."""
    [access] = await granted(partners, "trim")
    tp = TopicPartition(access.topic, 0)
    async with producer_as(stack) as producer:
        for _ in range(3):
            await producer.send_and_wait(access.topic, b"{}", key=b"k")
    router = as_principal(stack, "router", service_password(stack, "router") or "")
    partner = as_principal(stack, access.principal, access.password)
    admin = build_admin(router)
    await admin.start()
    try:
        assert await admin.delete_records({tp: RecordsToDelete(2)}) == {tp: 2}
    finally:
        await admin.close()
    admin = build_admin(partner)
    await admin.start()
    try:
        with pytest.raises(TopicAuthorizationFailedError):
            await admin.delete_records({tp: RecordsToDelete(3)})
    finally:
        await admin.close()


def test_partners_cli_grants_shows_and_revokes(stack: Settings, unique: str) -> None:
    """`partners add --kafka` prints a password once, `status` shows the partner with its
    ingress topic, `revoke --kafka` removes its access (status: revoked)."""
    org = f"cli-{unique}"

    def tatawwu(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tatawwu", "partners", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip

    def status_rows(*options: str) -> dict[str, dict[str, Any]]:
        lines = tatawwu("status", "--json", *options).stdout.splitlines()
        return {row["org_id"]: row for row in map(json.loads, lines)}

    try:
        added = tatawwu("add", org, "--kafka")
        assert added.returncode == 0, added.stderr
        [password] = added.stdout.splitlines()  # the password alone on stdout (logs: stderr)
        assert len(password) >= 24
        assert f"tatawwu.ingress.{org}" in added.stderr
        rows = status_rows()
        assert rows[org]["can_write"]
        assert rows[org]["topic_exists"]
        assert rows[org]["lag"] == 0
        revoked = tatawwu("revoke", "--kafka", org)
        assert revoked.returncode == 0, revoked.stderr
        rows = status_rows()
        assert not rows[org]["can_write"]
        again = tatawwu("revoke", "--kafka", org)
        assert again.returncode == 1
        assert "no direct Kafka access" in again.stderr
        bad = tatawwu("add", "org:with:colons", "--kafka")
        assert bad.returncode == 1
        assert "cannot name a Kafka topic" in bad.stderr
        # Once its topic is gone, a revoked partner is listed only with --all.
        asyncio.run(_delete_topics(stack, [ingress_topic(org)]))
        assert org not in status_rows()
        assert status_rows("--all")[org]["topic_exists"] is False
    finally:
        revoke_direct_access(stack, org)
        asyncio.run(_delete_topics(stack, [ingress_topic(org)]))
