"""Run the notifier (both halves) as one process until SIGTERM/SIGINT.

Its Kafka sends run on FastStream: one broker (`infra.streams`) with the outcome
publisher and the dead-letter publisher, started before the sender and stopped last.
The projector half consumes with the shared aiokafka runtime.
"""

from __future__ import annotations

import asyncio
import signal

import httpx
import structlog

from consumers.notifications import NAME, build_projector, metrics
from consumers.notifications.confirmations import Releaser, release_publisher
from consumers.notifications.feedback import run_feedback
from consumers.notifications.outcomes import outcome_publisher
from consumers.notifications.provider_erasure import run_provider_erasures
from consumers.notifications.retention import run_retention
from consumers.notifications.sender import Clock, Providers, Sender
from consumers.runtime import ProjectorRuntime, tune_gc
from consumers.runtime.deadletters import deadletter_publisher, forget_publishers, use_publishers
from infra.db import create_pool, rollback_only
from infra.ops import start_ops_server
from infra.settings import Settings
from infra.streams import Publishers, build_stream_broker

log = structlog.get_logger(__name__)
GROUP = "tatawwu.notifier"
# A sender that began no pass over the ledger for this many leases is stuck: the rows it
# claimed are being sent again by others meanwhile.
SENDER_STALE_LEASES = 2


def notifier_publishers(settings: Settings | None, topic_prefix: str = "") -> Publishers:
    """The notifier's FastStream publishers: outcomes and dead letters (None: docs only)."""
    publishers = Publishers(build_stream_broker(settings))
    outcome_publisher(publishers, topic_prefix)
    release_publisher(publishers, topic_prefix)  # released places (confirmations.py)
    deadletter_publisher(publishers, topic_prefix)
    return publishers


async def serve(
    settings: Settings,
    *,
    schema: str | None = None,
    group_id: str | None = None,
    instance_id: str | None = None,
    topic_prefix: str = "",
    stopping: asyncio.Event | None = None,
    handle_signals: bool = True,
    metrics_port: int | None = None,
    clock: Clock | None = None,
) -> None:
    """Enqueue (exactly-once projector) and deliver (sender) until stopped.

    `clock`: the time the sender and the releaser decide by (tests move it; default now).
    With `metrics_port`: `/health`, `/ready` (the projector ready and the sender looping)
    and `/metrics` on it, from before the start.
    """
    runtime = ProjectorRuntime(
        build_projector(settings),
        settings,
        schema=schema or NAME,
        group_id=group_id or GROUP,
        instance_id=instance_id,
        topic_prefix=topic_prefix,
    )
    if stopping is not None:
        runtime.stopping = stopping
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, runtime.stopping.set)
    sending: asyncio.Task[None] | None = None

    async def readiness() -> str | None:
        if sending is None:
            return "starting"
        if sending.done():
            return "sender stopped"
        if (idle := metrics.sender_idle_s()) > SENDER_STALE_LEASES * settings.notify_lease_s:
            return f"sender stuck: no pass over the ledger for {idle:.0f}s"
        return await runtime.readiness()

    ops = None
    if metrics_port:
        ops = await start_ops_server(settings.metrics_host, metrics_port, readiness)
    await runtime.start()  # creates the schema and applies the migrations
    tune_gc()
    # The sender's own pool: ordinary synchronous commits (the runtime's are relaxed). Its
    # users keep no session state (search_path is the connection's own setting), so a
    # release only rolls back what was left open, without asyncpg's reset round trip.
    pool = await create_pool(
        settings, min_size=1, max_size=6, reset=rollback_only,
        server_settings={"search_path": f'"{runtime.schema}"', "application_name": "tatawwu-sender"},
    )  # fmt: skip
    publishers = notifier_publishers(settings, topic_prefix)
    await publishers.broker.start()
    use_publishers(publishers, topic_prefix)
    http = httpx.AsyncClient(timeout=10)
    providers = Providers(settings, http)
    sender = Sender(
        settings, pool, publishers, providers, lease_s=settings.notify_lease_s,
        topic_prefix=topic_prefix, clock=clock,
    )  # fmt: skip
    releaser = Releaser(settings, pool, publishers, topic_prefix=topic_prefix, clock=clock)
    log.info("notifier_starting", schema=runtime.schema, quiet_hours=settings.notify_quiet_hours)
    sending = asyncio.create_task(sender.run(runtime.stopping))
    try:
        await asyncio.gather(
            runtime.run(), sending, metrics.watch_ledger(pool, runtime.stopping),
            run_feedback(pool, publishers, sender.topic, runtime.stopping),
            run_provider_erasures(pool, providers, runtime.stopping),
            releaser.run(runtime.stopping),
            run_retention(pool, settings.notify_keep_days, settings.retention_interval_s,
                          runtime.stopping, clock),
        )  # fmt: skip
    finally:
        runtime.stopping.set()
        if ops is not None:
            ops.close()
        await providers.close()
        await http.aclose()
        forget_publishers(topic_prefix)
        await publishers.broker.stop()
        await pool.close()
        await runtime.close()
        log.info("notifier_stopped")
