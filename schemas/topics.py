"""The topic catalog: every Kafka topic Tatawwu owns, its key and its storage policy.

Pure data (no I/O): `infra.kafka` creates these topics idempotently at start-up and
the event registry maps each event type onto one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic: name, what its key is, and how Kafka stores it."""

    name: str
    key: str
    partitions: int
    retention_ms: int = -1  # -1: keep forever; the log is the source of truth
    cleanup_policy: str = "delete"
    config: dict[str, str] = field(default_factory=dict)

    def topic_config(self, min_insync_replicas: int) -> dict[str, str]:
        """The per-topic configuration handed to the admin API."""
        return {
            "retention.ms": str(self.retention_ms),
            "cleanup.policy": self.cleanup_policy,
            "min.insync.replicas": str(min_insync_replicas),
            **self.config,
        }


# Facts are stamped with the broker's append time: when a fact entered the log, which a
# producer cannot choose. The ownership rules bound an event's `time` by it.
APPEND_TIME = {"message.timestamp.type": "LogAppendTime"}

# Event topics keep everything: projections are rebuilt from the start of the log.
# None is compacted: each record is a fact, not the latest state of its key, so
# compaction would silently delete history that rebuilds and the KPI depend on.
# Volume drives partition counts: volunteers, sign-ups and attendance dominate.
ORGANIZATIONS = TopicSpec("tatawwu.organizations", key="org_id", partitions=3, config=APPEND_TIME)
CAMPAIGNS = TopicSpec("tatawwu.campaigns", key="campaign_id", partitions=3, config=APPEND_TIME)
VOLUNTEERS = TopicSpec("tatawwu.volunteers", key="volunteer_id", partitions=6, config=APPEND_TIME)
SIGNUPS = TopicSpec("tatawwu.signups", key="volunteer_id", partitions=6, config=APPEND_TIME)
ATTENDANCE = TopicSpec("tatawwu.attendance", key="volunteer_id", partitions=6, config=APPEND_TIME)
# Delivery outcomes matter for a few months of audit, not forever.
NOTIFICATIONS = TopicSpec(
    "tatawwu.notifications",
    key="volunteer_id",
    partitions=3,
    retention_ms=180 * DAY_MS,
    config=APPEND_TIME,
)
# Dead letters wait for an operator: keep them a year, they are few.
DEADLETTER = TopicSpec(
    "tatawwu.deadletter", key="original key", partitions=1, retention_ms=365 * DAY_MS
)

CATALOG: tuple[TopicSpec, ...] = (
    ORGANIZATIONS,
    CAMPAIGNS,
    VOLUNTEERS,
    SIGNUPS,
    ATTENDANCE,
    NOTIFICATIONS,
    DEADLETTER,
)
BY_NAME: dict[str, TopicSpec] = {spec.name: spec for spec in CATALOG}

# Kafka-direct partners (the ingress path): each writes only to its own ingress topic,
# under Kafka ACLs, and the router validates and forwards what it may state to the
# canonical topics above. One partition by default, so a partner's records are judged in
# the order it wrote them (a claim before the facts that need it); kept a week, long
# enough to replay after an outage, short because the canonical topics are the record.
INGRESS_PREFIX = "tatawwu.ingress."
INGRESS_RETENTION_MS = 7 * DAY_MS
INGRESS_ORG_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"  # an Id a topic name can hold
# The largest record batch a partner may write to its ingress topic (the broker refuses a
# larger one at once): well under the 1 MiB a dead letter may take, so that any record
# the router refuses, however large, fits in the dead-letter topic with the headers that
# say why (the router never stalls on one record). Valid events are far smaller.
INGRESS_MAX_RECORD_BYTES = 1_000_000


def ingress_topic(org_id: str, topic_prefix: str = "") -> str:
    """The ingress topic of organisation `org_id` (under a test's topic prefix)."""
    return f"{topic_prefix}{INGRESS_PREFIX}{org_id}"


def ingress_spec(
    org_id: str, partitions: int = 1, retention_ms: int = INGRESS_RETENTION_MS
) -> TopicSpec:
    """The ingress topic of one Kafka-direct partner, stamped with the broker's append time."""
    return TopicSpec(
        ingress_topic(org_id),
        key="subject",
        partitions=partitions,
        retention_ms=retention_ms,
        config={**APPEND_TIME, "max.message.bytes": str(INGRESS_MAX_RECORD_BYTES)},
    )


def org_of_ingress(topic: str, topic_prefix: str = "") -> str | None:
    """The organisation an ingress topic belongs to, or None for any other topic."""
    head = topic_prefix + INGRESS_PREFIX
    if not topic.startswith(head) or len(topic) == len(head):
        return None
    return topic[len(head) :]
