"""What the benchmarks share: the repository root, and cleaning up topics and schemas."""

from __future__ import annotations

from pathlib import Path

from infra.db import connect
from infra.kafka import build_admin
from infra.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
PROJECTOR_TOPICS = ("tatawwu.campaigns", "tatawwu.signups", "tatawwu.attendance")
"""The topics the projector benchmarks publish to (campaign and participation facts)."""


async def delete_topics(settings: Settings, prefix: str) -> None:
    """Delete every topic whose name starts with prefix (a run's own topics)."""
    admin = build_admin(settings)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def drop_schemas(settings: Settings, *schemas: str) -> None:
    """Drop the named PostgreSQL schemas (a run's own read models), if they exist."""
    conn = await connect(settings)
    try:
        for schema in schemas:
            await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()
