"""Kafka principals and their ACLs: the platform's services and the Kafka-direct partners.

The brokers authenticate every client (SASL/SCRAM) and the StandardAuthorizer allows a
principal only what an ACL grants (`allow.everyone.if.no.acl.found=false`). Who may do
what, written once here:

| principal | may |
|---|---|
| `admin` | everything (super user): the developer and operator tools, the tests |
| `gateway` | write the canonical event topics |
| `router` | read every ingress topic (group `tatawwu-router*`) and delete what it has routed, write the canonical event topics and the dead-letter topic, in transactions (`tatawwu-router*` ids) |
| `projector` | read the canonical topics (groups `tatawwu.projector.*`), write the dead-letter topic |
| `notifier` | read the canonical topics (group `tatawwu.notifier*`), write the notification and dead-letter topics, and the sign-ups topic (places released when an attendance confirmation goes unanswered, from `platform/confirmations`) |
| `read-api` | describe the canonical topics (lag of the projections) |
| `partner-<org>` | write (and describe) its own ingress topic `tatawwu.ingress.<org>`; nothing else: no canonical topic, no other partner's ingress topic, no reading |

Kafka has no ACL or SCRAM calls in aiokafka; `confluent-kafka`'s admin client (librdkafka
>= 2.6.1: older ones fail SCRAM against Kafka 4) makes them. Calls are blocking: callers
in an event loop run them in a thread.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialDeletion,
    UserScramCredentialUpsertion,
)

from infra.settings import Settings
from schemas.topics import (
    CATALOG,
    DEADLETTER,
    INGRESS_ORG_PATTERN,
    INGRESS_PREFIX,
    NOTIFICATIONS,
    SIGNUPS,
    ingress_topic,
)

TIMEOUT_S = 15.0
SCRAM_ITERATIONS = 8192
MECHANISMS = (ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512)
PARTNER_PREFIX = "partner-"
EVENT_TOPICS = tuple(s.name for s in CATALOG if s not in (DEADLETTER, NOTIFICATIONS))
READ, WRITE, DESCRIBE = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE
DELETE = AclOperation.DELETE
LITERAL, PREFIXED = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED


class PrincipalError(RuntimeError):
    """The cluster refused a principal or ACL change (the message says which and why)."""


@dataclass(frozen=True, slots=True)
class Grant:
    """Operations allowed on one resource (a topic, group or transactional id) or pattern."""

    resource: ResourceType
    name: str
    operations: tuple[AclOperation, ...]
    pattern: ResourcePatternType = LITERAL

    def bindings(self, principal: str) -> list[AclBinding]:
        """The ACL bindings granting this to `User:<principal>` from any host."""
        return [
            AclBinding(
                self.resource,
                self.name,
                self.pattern,
                f"User:{principal}",
                "*",
                operation,
                AclPermissionType.ALLOW,
            )
            for operation in self.operations
        ]


def _topics(names: Iterable[str], *operations: AclOperation) -> tuple[Grant, ...]:
    return tuple(Grant(ResourceType.TOPIC, name, operations) for name in names)


def _group(prefix: str) -> Grant:
    return Grant(ResourceType.GROUP, prefix, (READ, DESCRIBE), PREFIXED)


SERVICES: dict[str, tuple[Grant, ...]] = {
    "gateway": _topics(EVENT_TOPICS, WRITE, DESCRIBE),
    "router": (
        # DELETE: the records it has routed (DeleteRecords, infra/ingress.py).
        Grant(ResourceType.TOPIC, INGRESS_PREFIX, (READ, DESCRIBE, DELETE), PREFIXED),
        _group("tatawwu-router"),
        *_topics((*EVENT_TOPICS, DEADLETTER.name), WRITE, DESCRIBE),
        Grant(ResourceType.TRANSACTIONAL_ID, "tatawwu-router", (WRITE, DESCRIBE), PREFIXED),
    ),
    "projector": (
        *_topics(EVENT_TOPICS, READ, DESCRIBE),
        _group("tatawwu.projector."),
        *_topics((DEADLETTER.name,), WRITE, DESCRIBE),
    ),
    "notifier": (
        *_topics(EVENT_TOPICS, READ, DESCRIBE),
        _group("tatawwu.notifier"),
        *_topics((NOTIFICATIONS.name, DEADLETTER.name), WRITE, DESCRIBE),
        *_topics((SIGNUPS.name,), WRITE),  # released places; DESCRIBE it has as a reader
    ),
    "read-api": _topics(EVENT_TOPICS, DESCRIBE),
}


def partner_principal(org_id: str) -> str:
    """The Kafka principal (SCRAM user name) of a Kafka-direct partner."""
    return PARTNER_PREFIX + org_id


def partner_grants(org_id: str) -> tuple[Grant, ...]:
    """What a Kafka-direct partner may do: write to its own ingress topic, nothing else."""
    return (Grant(ResourceType.TOPIC, ingress_topic(org_id), (WRITE, DESCRIBE)),)


def check_org_id(org_id: str) -> None:
    """Refuse an organisation id a topic or principal name cannot hold, saying why."""
    import re

    if not re.fullmatch(INGRESS_ORG_PATTERN, org_id):
        msg = (
            f"organisation id {org_id[:70]!r} cannot name a Kafka topic: direct access needs "
            "1-64 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit)"
        )
        raise PrincipalError(msg)


def client_config(settings: Settings) -> dict[str, Any]:
    """librdkafka's configuration for the settings' cluster, principal and TLS files."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap_servers,
        "security.protocol": settings.kafka_protocol.lower(),
        "client.id": f"{settings.kafka_client_id}-principals",
    }
    if settings.kafka_protocol.startswith("SASL"):
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_username
        config["sasl.password"] = settings.kafka_password()
    if settings.kafka_protocol.endswith("SSL"):
        if settings.kafka_ssl_cafile:
            config["ssl.ca.location"] = str(settings.kafka_ssl_cafile)
        if settings.kafka_ssl_certfile:
            config["ssl.certificate.location"] = str(settings.kafka_ssl_certfile)
        if settings.kafka_ssl_keyfile:
            config["ssl.key.location"] = str(settings.kafka_ssl_keyfile)
        if settings.kafka_ssl_key_password:
            config["ssl.key.password"] = settings.kafka_ssl_key_password.get_secret_value()
        if not settings.kafka_ssl_check_hostname:
            config["ssl.endpoint.identification.algorithm"] = "none"
    return config


def new_password() -> str:
    """A random SCRAM password (192 bits, URL-safe)."""
    return secrets.token_urlsafe(24)


def _wait(futures: dict[Any, Any] | Any, what: str) -> dict[Any, Any]:
    """Wait for every future; raise PrincipalError naming what failed."""
    if not isinstance(futures, dict):
        futures = {what: futures}
    results, failed = {}, []
    for key, future in futures.items():
        try:
            results[key] = future.result(timeout=TIMEOUT_S)
        except Exception as exc:
            failed.append(f"{key}: {exc}")
    if failed:
        raise PrincipalError(f"Kafka refused to {what}: " + "; ".join(failed))
    return results


class Principals:
    """SCRAM users and ACLs of one cluster, managed as its admin."""

    def __init__(self, settings: Settings) -> None:
        self._admin = AdminClient(client_config(settings))

    # ------------------------------------------------------------------ users
    def users(self) -> list[str]:
        """Every SCRAM user the cluster knows."""
        described = _wait(self._admin.describe_user_scram_credentials(), "list users")
        return sorted(next(iter(described.values())))

    def set_password(self, user: str, password: str) -> None:
        """Create the user or change its password (both SCRAM mechanisms)."""
        for mechanism in MECHANISMS:  # one request each: Kafka refuses two for one user
            info = ScramCredentialInfo(mechanism, SCRAM_ITERATIONS)
            upsert = UserScramCredentialUpsertion(user, info, password.encode())
            _wait(self._admin.alter_user_scram_credentials([upsert]), f"set {user}'s password")

    def delete_user(self, user: str) -> bool:
        """Delete the user's credentials; False when it had none."""
        if user not in self.users():
            return False
        for mechanism in MECHANISMS:
            deletion = UserScramCredentialDeletion(user, mechanism)
            _wait(self._admin.alter_user_scram_credentials([deletion]), f"delete {user}")
        return True

    # ------------------------------------------------------------------- acls
    def grant(self, principal: str, grants: Iterable[Grant]) -> int:
        """Create the ACLs (idempotent); return how many bindings were asked for."""
        bindings = [b for g in grants for b in g.bindings(principal)]
        if bindings:
            _wait(self._admin.create_acls(bindings), f"grant ACLs to {principal}")
        return len(bindings)

    def acls(self, principal: str | None = None) -> list[AclBinding]:
        """The ACLs of `principal` (every ACL when None)."""
        wanted = AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY,
            f"User:{principal}" if principal else None, None,
            AclOperation.ANY, AclPermissionType.ANY,
        )  # fmt: skip
        found = _wait(self._admin.describe_acls(wanted), "list ACLs")
        return list(next(iter(found.values())))

    def revoke(self, principal: str) -> int:
        """Delete every ACL of `principal`; return how many were deleted."""
        wanted = AclBindingFilter(
            ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{principal}", None,
            AclOperation.ANY, AclPermissionType.ANY,
        )  # fmt: skip
        deleted = _wait(self._admin.delete_acls([wanted]), f"revoke {principal}'s ACLs")
        return sum(len(found) for found in deleted.values())
