"""What the benchmarks share: the repository root, their topics, dropping their schemas.

Topics are deleted with `tests.support.projectors.delete_topics` (re-exported here).
"""

from __future__ import annotations

from pathlib import Path

from infra.db import connect
from infra.settings import Settings
from tests.support.projectors import delete_topics

__all__ = ["PROJECTOR_TOPICS", "ROOT", "delete_topics", "drop_schemas"]

ROOT = Path(__file__).resolve().parent.parent
PROJECTOR_TOPICS = ("tatawwu.campaigns", "tatawwu.signups", "tatawwu.attendance")
"""The topics the projector benchmarks publish to (campaign and participation facts)."""


async def drop_schemas(settings: Settings, *schemas: str) -> None:
    """Drop the named PostgreSQL schemas (a run's own read models), if they exist."""
    conn = await connect(settings)
    try:
        for schema in schemas:
            await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()
