"""A tiny, tested migration runner: ordered SQL files per component, applied once, under a lock.

Each component owns a directory of `NNNN_description.sql` files. `apply` runs the
missing ones for a component in one transaction that first takes a PostgreSQL
advisory lock, so two processes starting together serialise instead of racing,
and records each file (with its checksum) in `tatawwu_schema_migrations`.
A recorded file whose content changed is refused: migrations are append-only.
(yoyo and alembic were considered: both are sync/SQLAlchemy-bound; this stays ~100 lines.)
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

log = structlog.get_logger(__name__)

LOCK_KEY = 0x7A7A_0001  # arbitrary, constant: one lock for every component's migrations
FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
VERSION_TABLE = """
create table if not exists tatawwu_schema_migrations (
    component  text        not null,
    version    integer     not null,
    name       text        not null,
    checksum   text        not null,
    applied_at timestamptz not null default now(),
    primary key (component, version)
)
"""


class MigrationError(RuntimeError):
    """A migration directory is malformed or an applied file has been edited."""


@dataclass(frozen=True)
class Migration:
    """One SQL file of one component."""

    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


@dataclass(frozen=True)
class Migrations:
    """The ordered migrations a component owns, read from its directory."""

    component: str
    directory: Path

    def load(self) -> list[Migration]:
        """The migrations in version order; refuses bad names and duplicate versions."""
        found: dict[int, Migration] = {}
        for path in sorted(self.directory.glob("*.sql")):
            match = FILE_NAME.match(path.name)
            if match is None:
                msg = f"{path}: migration files are named NNNN_description.sql"
                raise MigrationError(msg)
            version = int(match.group(1))
            if version in found:
                msg = f"{path}: version {version} of {self.component} appears twice"
                raise MigrationError(msg)
            found[version] = Migration(self.component, version, match.group(2), path.read_text())
        return [found[v] for v in sorted(found)]


async def apply(conn: asyncpg.Connection, *components: Migrations) -> list[Migration]:
    """Apply every missing migration of the given components; return those applied now."""
    applied_now: list[Migration] = []
    async with conn.transaction():
        await conn.execute("select pg_advisory_xact_lock($1)", LOCK_KEY)
        await conn.execute(VERSION_TABLE)
        for component in components:
            rows = await conn.fetch(
                "select version, checksum from tatawwu_schema_migrations where component = $1",
                component.component,
            )
            done = {row["version"]: row["checksum"] for row in rows}
            for migration in component.load():
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        msg = (
                            f"migration {migration.component} {migration.version:04d}_"
                            f"{migration.name} was edited after it was applied; add a new file"
                        )
                        raise MigrationError(msg)
                    continue
                await conn.execute(migration.sql)
                await conn.execute(
                    "insert into tatawwu_schema_migrations (component, version, name, checksum)"
                    " values ($1, $2, $3, $4)",
                    migration.component,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
                applied_now.append(migration)
    for migration in applied_now:
        log.info("migration_applied", component=migration.component, version=migration.version,
                 name=migration.name)  # fmt: skip
    return applied_now


INFRA = Migrations("infra", Path(__file__).with_name("sql"))
