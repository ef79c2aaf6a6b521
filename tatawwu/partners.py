"""Kafka-direct partners: grant, revoke and inspect a partner's own ingress topic.

A partner that asks for direct access gets a SCRAM principal `partner-<org>` that may
write only to `tatawwu.ingress.<org>` (ACLs, `infra.principals`); the router validates
what arrives there and forwards what the partner may state to the canonical topics.
Granting creates the ingress topic (one partition: judged in the order written; kept
`TATAWWU_INGRESS_RETENTION_DAYS`, 7 by default), the principal with a fresh password
(shown once) and its ACLs.
Revoking deletes the ACLs first (the broker refuses the partner's next request, even on
a connection it already has) and then replaces the password with one nobody knows; the
ingress topic stays until its retention, so what the partner wrote before is still
routed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from infra.kafka import ensure_topics
from infra.principals import (
    PARTNER_PREFIX,
    PrincipalError,
    Principals,
    check_org_id,
    new_password,
    partner_grants,
    partner_principal,
)
from infra.settings import Settings
from schemas.topics import DAY_MS, ingress_spec, ingress_topic


@dataclass(frozen=True)
class DirectAccess:
    """What a partner needs to connect (the password exists only here, once)."""

    org_id: str
    principal: str
    password: str
    topic: str
    bootstrap: str
    mechanism: str


@dataclass
class PartnerStatus:
    """One row of `tatawwu partners status`."""

    org_id: str
    principal: str
    can_write: bool  # the principal exists and holds its ACLs
    topic: str
    topic_exists: bool
    end_offset: int = 0  # records written to the ingress topic (all partitions)
    routed_offset: int = 0  # records the router has committed past
    accepted: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    @property
    def lag(self) -> int:
        return max(0, self.end_offset - self.routed_offset)

    def as_dict(self) -> dict[str, Any]:
        return {
            "org_id": self.org_id, "principal": self.principal, "can_write": self.can_write,
            "topic": self.topic, "topic_exists": self.topic_exists,
            "end_offset": self.end_offset, "routed_offset": self.routed_offset,
            "lag": self.lag, "accepted": self.accepted, "refused": dict(self.refused),
        }  # fmt: skip


def grant_direct_access(
    settings: Settings, org_id: str, *, partitions: int = 1, retention_days: float | None = None
) -> DirectAccess:
    """Create the ingress topic, the principal (new password) and its ACLs.

    The topic keeps records `retention_days`, by default `ingress_retention_days` (7)."""
    check_org_id(org_id)
    days = settings.ingress_retention_days if retention_days is None else retention_days
    spec = ingress_spec(org_id, partitions, int(days * DAY_MS))
    asyncio.run(ensure_topics(settings, [spec]))
    principals = Principals(settings)
    principal, password = partner_principal(org_id), new_password()
    principals.set_password(principal, password)
    principals.grant(principal, partner_grants(org_id))
    access = DirectAccess(
        org_id, principal, password, spec.name, settings.bootstrap_servers,
        settings.kafka_sasl_mechanism,
    )  # fmt: skip
    _wait_until_usable(settings, access)
    return access


def _wait_until_usable(settings: Settings, access: DirectAccess, wait_s: float = 30.0) -> None:
    """Return once the brokers accept the new credentials and show the partner its topic.

    New credentials and ACLs reach the brokers through the metadata log, a moment after
    the admin call returns: a partner handed its password must be able to use it at once.
    """
    import time

    from confluent_kafka.admin import AdminClient

    from infra.principals import client_config

    config = client_config(settings) | {
        "sasl.username": access.principal, "sasl.password": access.password,
    }  # fmt: skip
    deadline = time.monotonic() + wait_s
    while True:
        client = AdminClient(config | {"log_level": 0})
        try:
            if access.topic in client.list_topics(access.topic, timeout=2).topics:
                return
        except Exception:  # not yet: authentication or the ACL still on its way
            if time.monotonic() > deadline:
                msg = f"{access.principal}'s new credentials were not usable within {wait_s:.0f}s"
                raise PrincipalError(msg) from None
        time.sleep(0.2)


def revoke_direct_access(settings: Settings, org_id: str) -> tuple[int, bool]:
    """Delete the partner's ACLs, then make its password one nobody knows:
    (ACLs deleted, whether the principal existed).

    The credentials are replaced, not deleted: Kafka 4.1.1, rebuilding its metadata from
    a log in which a SCRAM user was deleted, can lose every credential of the mechanism
    on restart, the admin's included (`tests/faults/test_scram_restart.py`; the local
    cluster also snapshots its metadata often against it). A principal with no ACLs and
    an unknown password can do nothing; `partners add --kafka` gives it a new one.
    """
    check_org_id(org_id)
    principals = Principals(settings)
    principal = partner_principal(org_id)
    acls = principals.revoke(principal)
    existed = principal in principals.users()
    if existed:
        principals.set_password(principal, new_password())  # and forget it at once
    return acls, existed


def direct_partners(settings: Settings, topic_prefix: str = "") -> list[PartnerStatus]:
    """Every partner with a principal or an ingress topic: access, lag and router counts
    (`consumers.router.router_status`: offsets from Kafka, counts from PostgreSQL)."""
    from consumers.router import router_status

    principals = Principals(settings)
    users = {u[len(PARTNER_PREFIX) :] for u in principals.users() if u.startswith(PARTNER_PREFIX)}
    routed = {row["org"]: row for row in asyncio.run(router_status(settings, topic_prefix))}
    granted = {acl.principal for acl in principals.acls()}  # one call for every partner
    rows = []
    for org_id in sorted(users | set(routed)):
        principal = partner_principal(org_id)
        holds = org_id in users and f"User:{principal}" in granted
        row = routed.get(org_id, {})
        topic = ingress_topic(org_id, topic_prefix)
        rows.append(PartnerStatus(
            org_id, principal, holds, topic, topic_exists=row.get("exists", False),
            end_offset=row.get("end_offset", 0), routed_offset=row.get("committed", 0),
            accepted=row.get("accepted", 0), refused=dict(row.get("refused", {})),
        ))  # fmt: skip
    return rows
