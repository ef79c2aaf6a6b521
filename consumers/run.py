"""Run one projector instance as a process until SIGTERM/SIGINT (finishing the batch in flight).

The projector consumes with the shared aiokafka runtime (`consumers.runtime`); its dead
letters go out through a FastStream broker started here (`infra.streams`), whose
dead-letter publisher is the one the AsyncAPI document describes.
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from consumers.runtime import Projector, ProjectorRuntime, run_projector
from consumers.runtime.deadletters import deadletter_publisher, forget_publishers, use_publishers
from infra.ops import start_ops_server
from infra.settings import Settings
from infra.streams import Publishers, build_stream_broker

log = structlog.get_logger(__name__)


async def serve(
    projector: Projector,
    settings: Settings,
    *,
    instance_id: str | None = None,
    schema: str | None = None,
    group_id: str | None = None,
    topic_prefix: str = "",
    metrics_port: int | None = None,
) -> None:
    """Run the projector; stop cleanly on SIGTERM or SIGINT."""
    name = projector.name
    runtime = ProjectorRuntime(
        projector,
        settings,
        instance_id=instance_id,
        schema=schema,
        group_id=group_id,
        topic_prefix=topic_prefix,
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, runtime.stopping.set)
    if metrics_port:  # /health, /ready, /metrics for the process's life (/ready: 503 till assigned)
        await start_ops_server(settings.metrics_host, metrics_port, runtime.readiness)
    log.info("projector_starting", projector=name, instance=instance_id, schema=runtime.schema)
    publishers = Publishers(build_stream_broker(settings))
    deadletter_publisher(publishers, topic_prefix)  # declared before the broker starts
    await publishers.broker.start()
    use_publishers(publishers, topic_prefix)
    try:
        await run_projector(runtime)
    finally:
        forget_publishers(topic_prefix)
        await publishers.broker.stop()
    log.info("projector_stopped", projector=name)
