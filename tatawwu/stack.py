"""The local stack with the platform's tables: `infra.local.stack` given the manifest's migrations."""

from __future__ import annotations

from infra.local import stack
from infra.local.stack import SERVICES, StartReport, down
from infra.settings import Settings
from tatawwu.manifest import shared_migrations

__all__ = ["SERVICES", "StartReport", "down", "prepare", "up"]


def up(
    settings: Settings,
    *,
    topics: bool = True,
    migrate: bool = True,
    services: tuple[str, ...] = SERVICES,
) -> StartReport:
    """Start what is local and missing, create topics, apply the shared-schema migrations."""
    return stack.up(
        settings, topics=topics, migrate=migrate, services=services,
        migrations=shared_migrations(),
    )  # fmt: skip


async def prepare(settings: Settings, *, topics: bool = True, migrate: bool = True) -> None:
    """Create the declared topics and apply the shared-schema migrations (both idempotent)."""
    await stack.prepare(settings, topics=topics, migrate=migrate, migrations=shared_migrations())
