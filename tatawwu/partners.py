"""Kafka-direct partners: grant, revoke and inspect a partner's own ingress topic.

A partner that asks for direct access gets a SCRAM principal `partner-<org>` that may
write only to `tatawwu.ingress.<org>` (ACLs, `infra.principals`); the router validates
what arrives there and forwards what the partner may state to the canonical topics.
Granting creates the ingress topic (one partition: judged in the order written; kept
7 days by default), the principal with a fresh password (shown once) and its ACLs.
Revoking deletes the ACLs first (the broker refuses the partner's next request, even on
a connection it already has) and then the credentials; the ingress topic stays until its
retention, so what the partner wrote before is still routed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from infra.kafka import build_admin, end_offsets, ensure_topics
from infra.principals import (
    PARTNER_PREFIX,
    Principals,
    check_org_id,
    new_password,
    partner_grants,
    partner_principal,
)
from infra.settings import Settings
from schemas.topics import DAY_MS, ingress_spec, ingress_topic, org_of_ingress

ROUTER_GROUP = "tatawwu-router"


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
    settings: Settings, org_id: str, *, partitions: int = 1, retention_days: float = 7.0
) -> DirectAccess:
    """Create the ingress topic, the principal (new password) and its ACLs."""
    check_org_id(org_id)
    spec = ingress_spec(org_id, partitions, int(retention_days * DAY_MS))
    asyncio.run(ensure_topics(settings, [spec]))
    principals = Principals(settings)
    principal, password = partner_principal(org_id), new_password()
    principals.set_password(principal, password)
    principals.grant(principal, partner_grants(org_id))
    return DirectAccess(
        org_id, principal, password, spec.name, settings.bootstrap_servers,
        settings.kafka_sasl_mechanism,
    )  # fmt: skip


def revoke_direct_access(settings: Settings, org_id: str) -> tuple[int, bool]:
    """Delete the partner's ACLs, then its credentials: (ACLs deleted, user deleted)."""
    check_org_id(org_id)
    principals = Principals(settings)
    principal = partner_principal(org_id)
    return principals.revoke(principal), principals.delete_user(principal)


async def _router_offsets(settings: Settings, group: str) -> dict[tuple[str, int], int]:
    admin = build_admin(settings)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return {(tp.topic, tp.partition): meta.offset for tp, meta in committed.items()}


async def _topics(settings: Settings) -> list[str]:
    admin = build_admin(settings)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


def direct_partners(settings: Settings, topic_prefix: str = "") -> list[PartnerStatus]:
    """Every partner with a principal or an ingress topic: access, lag and router counts."""
    principals = Principals(settings)
    users = {u[len(PARTNER_PREFIX) :] for u in principals.users() if u.startswith(PARTNER_PREFIX)}
    topics = asyncio.run(_topics(settings))
    orgs_with_topics = {o for t in topics if (o := org_of_ingress(t, topic_prefix))}
    rows = []
    for org_id in sorted(users | orgs_with_topics):
        principal = partner_principal(org_id)
        holds = org_id in users and bool(principals.acls(principal))
        topic = ingress_topic(org_id, topic_prefix)
        rows.append(PartnerStatus(org_id, principal, holds, topic, org_id in orgs_with_topics))
    asyncio.run(_fill_offsets(settings, rows, topic_prefix))
    return rows


async def _fill_offsets(settings: Settings, rows: list[PartnerStatus], topic_prefix: str) -> None:
    present = [row.topic for row in rows if row.topic_exists]
    if not present:
        return
    ends = await end_offsets(settings, topics=present)
    routed = await _router_offsets(settings, topic_prefix + ROUTER_GROUP)
    by_topic = {row.topic: row for row in rows}
    for tp, end in ends.items():
        row = by_topic[tp.topic]
        row.end_offset += end
        row.routed_offset += max(0, routed.get((tp.topic, tp.partition), 0))
