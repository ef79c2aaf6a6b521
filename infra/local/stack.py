"""The local stack as one unit: PostgreSQL, Kafka, topics and migrations, up and down.

External services (TATAWWU_KAFKA_BOOTSTRAP / TATAWWU_DATABASE_URL set) are used
as they are: never started, never stopped, only checked and prepared.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from infra.keys import ensure_master_key_file
from infra.local.kafka import KafkaCluster
from infra.local.postgres import PostgresCluster
from infra.migrations import Migrations
from infra.settings import Settings


@dataclass
class StartReport:
    """What `up` did, with timings in seconds, for the CLI and the README figures."""

    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: list[str] = field(default_factory=list)  # services that were not running before


def kafka_cluster(
    settings: Settings, brokers: int | None = None, port: int | None = None
) -> KafkaCluster:
    """The local Kafka cluster the settings describe."""
    n = brokers or settings.kafka_brokers
    return KafkaCluster(
        settings.cache_dir.resolve(),
        port=port or settings.kafka_port,
        brokers=n,
        heap="512m" if n == 1 else "384m",
    )


def postgres_cluster(settings: Settings) -> PostgresCluster:
    """The local PostgreSQL cluster the settings describe."""
    return PostgresCluster(settings.cache_dir.resolve(), port=settings.postgres_port)


SERVICES = ("postgres", "kafka")


def up(
    settings: Settings,
    *,
    topics: bool = True,
    migrate: bool = True,
    services: tuple[str, ...] = SERVICES,
    migrations: Sequence[Migrations] = (),
) -> StartReport:
    """Start what is local and missing, then create topics and apply the given migrations."""
    report = StartReport()
    began = time.monotonic()
    if "postgres" not in services:
        migrate = False
    elif settings.database_is_external:
        report.notes.append("PostgreSQL: using TATAWWU_DATABASE_URL, nothing started")
    else:
        pg = postgres_cluster(settings)
        if pg.pid() is None:
            report.started.append("postgres")
        pg.start()
        report.timings["postgres"] = time.monotonic() - began
    if settings.master_key is None and ensure_master_key_file(settings.master_key_path):
        # The local stack's master key (infra/keys.py): under .cache/, never in git.
        report.notes.append(f"master key made: {settings.master_key_path}")
    began = time.monotonic()
    if "kafka" not in services:
        topics = False
    elif settings.kafka_is_external:
        report.notes.append("Kafka: using TATAWWU_KAFKA_BOOTSTRAP, nothing started")
    else:
        kafka = kafka_cluster(settings)
        if any(kafka.pid(n) is None for n in kafka.node_ids):
            report.started.append("kafka")
        kafka.start()
        if kafka.secure:
            from infra.local.principals import ensure_service_principals

            if created := ensure_service_principals(settings):
                report.notes.append(f"Kafka: service principals created: {', '.join(created)}")
        report.timings["kafka"] = time.monotonic() - began
    if topics or migrate:
        began = time.monotonic()
        asyncio.run(prepare(settings, topics=topics, migrate=migrate, migrations=migrations))
        report.timings["topics+migrations"] = time.monotonic() - began
    return report


async def prepare(
    settings: Settings,
    *,
    topics: bool = True,
    migrate: bool = True,
    migrations: Sequence[Migrations] = (),
) -> None:
    """Create the declared topics and apply the migrations, in order (both idempotent).

    The application passes its list (`tatawwu.manifest.shared_migrations`): the
    plumbing does not know which components own tables.
    """
    from infra.db import connect
    from infra.kafka import ensure_topics
    from infra.migrations import apply

    if topics:
        await ensure_topics(settings)
    if migrate:
        conn = await connect(settings)
        try:
            await apply(conn, *migrations)
        finally:
            await conn.close()


def down(
    settings: Settings, *, purge: bool = False, services: tuple[str, ...] = SERVICES
) -> list[str]:
    """Stop the local services (never external ones); purge=True also deletes their data."""
    stopped = []
    if "kafka" in services and not settings.kafka_is_external:
        cluster = kafka_cluster(settings)
        if cluster.stop():
            stopped.append("kafka")
        if purge:
            cluster.destroy()
    if "postgres" in services and not settings.database_is_external:
        pg = postgres_cluster(settings)
        if pg.stop():
            stopped.append("postgres")
        if purge:
            import shutil

            shutil.rmtree(pg.home, ignore_errors=True)
    return stopped
