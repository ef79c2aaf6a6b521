"""The service principals' grants: no binding twice (the admin client refuses duplicates),
and the notifier writes no canonical topic but the sign-ups one (released places)."""

from __future__ import annotations

import collections

from confluent_kafka.admin import AclOperation

from infra.principals import SERVICES
from schemas.topics import CATALOG, DEADLETTER, NOTIFICATIONS, SIGNUPS


def test_no_service_is_granted_the_same_binding_twice() -> None:
    for name, grants in SERVICES.items():
        bindings = collections.Counter(
            (g.resource, g.name, g.pattern, op) for g in grants for op in g.operations
        )
        assert [b for b, n in bindings.items() if n > 1] == [], name


def test_the_notifier_writes_notifications_dead_letters_and_released_places_only() -> None:
    written = {g.name for g in SERVICES["notifier"] if AclOperation.WRITE in g.operations}
    assert written == {NOTIFICATIONS.name, DEADLETTER.name, SIGNUPS.name}
    assert SIGNUPS.name in {t.name for t in CATALOG}
