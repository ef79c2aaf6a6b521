"""A Kafka-direct partner's ingress topic is created with the retention the settings give."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from infra.principals import client_config
from infra.settings import Settings
from schemas.topics import DAY_MS
from tatawwu.partners import grant_direct_access, revoke_direct_access

pytestmark = [pytest.mark.kafka]


def _retention_ms(settings: Settings, topic: str) -> int:
    admin = AdminClient(client_config(settings) | {"log_level": 0})
    [future] = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    retention = int(future.result(timeout=15)["retention.ms"].value)
    [deleted] = admin.delete_topics([topic]).values()
    deleted.result(timeout=15)
    return retention


def test_the_ingress_topic_keeps_records_as_long_as_the_setting_says(
    stack: Settings, unique: str
) -> None:
    """`TATAWWU_INGRESS_RETENTION_DAYS` (7 by default) is the topic's retention.ms; an
    explicit --retention-days wins."""
    if stack.kafka_is_external:
        pytest.skip("makes principals on the local cluster")
    assert Settings().ingress_retention_days == 7.0
    settings = stack.model_copy(update={"ingress_retention_days": 2.5})
    for org, days, expected in ((f"ret-{unique}", None, 2.5), (f"ret2-{unique}", 1.0, 1.0)):
        access = grant_direct_access(settings, org, retention_days=days)
        try:
            retention = _retention_ms(stack, access.topic)
        finally:
            revoke_direct_access(stack, org)
        assert retention == int(expected * DAY_MS)
