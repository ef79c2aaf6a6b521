"""Run the router: a FastStream batch subscriber on every ingress topic (`routing.Router`).

What FastStream (0.7.8, read from its source) does here, and what it cannot:
- The subscription is FastStream's (`broker.subscriber(pattern=..., batch=True)`), so the
  app and its AsyncAPI description come from one declaration, and it owns the consumer's
  lifecycle. `pattern` goes to aiokafka's `subscribe(pattern=...)`; the broker's
  `metadata_max_age_ms` (3 s) bounds how long a new partner's topic waits.
- `ack_policy=MANUAL`: the default `ACK_FIRST` turns aiokafka's auto-commit on
  (at-most-once); under `MANUAL` nothing commits unless the handler acks, and the router
  never does: its offsets are committed by the transaction (`send_offsets_to_transaction`).
- A raw parser and a no-op decoder: FastStream's batch parser decodes every header value
  as UTF-8 (one partner's binary header would fail the whole batch before the handler)
  and its decoder parses every value as JSON; the router decodes each record once with
  `schemas.binding.decode_record`, which never raises.
- A handler that raises under `MANUAL` is logged and the consumer goes on past the batch
  (its position already moved): so the handler catches everything itself and seeks back
  through the subscriber's aiokafka consumer (`subscriber.consumer`).
- No transactions: FastStream's broker has one non-transactional producer and no API to
  begin, commit or abort, or to add offsets to a transaction; the transaction is a raw
  aiokafka producer's (`infra.kafka.build_producer(transactional_id=...)`).
- `isolation_level=read_committed` on the ingress topics (a partner's aborted
  transaction is never forwarded); static membership (`group_instance_id`), so a
  restarted router takes its partitions back at once; a rebalance `listener=`
  (`Rebalancing`, handed by FastStream to aiokafka's `subscribe`) so the router ends its
  transaction in flight before partitions change hands and forgets the offsets of those
  it no longer holds.

Order at start: the transactional producer first (its `init_transactions` fences a killed
predecessor and settles its open transaction), then the subscriber, whose consumer then
reads offsets no pending transaction can still move. At stop: the subscriber first (the
handler in flight finishes), then the transaction in flight, then the producer.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

import structlog
from aiokafka import ConsumerRebalanceListener, TopicPartition
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from consumers.router.counts import group_for
from consumers.router.plan import NAME
from consumers.router.routing import Router
from consumers.runtime import tune_gc
from consumers.runtime.batch import Record
from consumers.sealed_letters import run_key_retention
from infra.ingress import run_forgetting
from infra.kafka import build_broker
from infra.ops import start_ops_server
from infra.settings import Settings
from schemas.topics import INGRESS_PREFIX

log = structlog.get_logger(__name__)

MAX_RECORDS = 10_000  # per batch: one transaction and one counts update each
BATCH_TIMEOUT_MS = 100
METADATA_MAX_AGE_MS = 3_000  # a new partner's ingress topic is subscribed within seconds
DESCRIPTION = (
    "The Kafka-ingress router: validates each partner's records, judges them as the "
    "organisation the topic belongs to, forwards accepted events to the canonical topics "
    "and refused records to the dead-letter topic, exactly once (Kafka transactions)."
)


async def raw_parser(records: tuple[Record, ...]) -> StreamMessage[Any]:
    """The batch as FastStream's message, untouched: no header is decoded as text.

    FastStream's own batch parser decodes every header value as UTF-8 (a partner's
    binary header would make the whole batch fail) and its decoder parses every value as
    JSON (the router decodes with `schemas.binding.decode_record`, once).
    """
    return StreamMessage(raw_message=records, body=b"")


class Rebalancing(ConsumerRebalanceListener):  # type: ignore[misc]
    """The router told of its partitions changing hands (`Router.revoking`, `assigned`)."""

    def __init__(self, router: Router) -> None:
        self.router = router

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.router.revoking()

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.router.assigned(assigned)


async def raw_decoder(message: StreamMessage[Any]) -> None:
    """Nothing to decode: the handler reads the raw records."""
    return


def ingress_pattern(topic_prefix: str = "") -> str:
    """The subscription: every organisation's ingress topic (FastStream path syntax)."""
    return f"{topic_prefix}{INGRESS_PREFIX}{{org}}"


def build_router_broker(
    settings: Settings | None, router: Router | None, *, topic_prefix: str = "",
    instance_id: str = "router-1", max_records: int = MAX_RECORDS,
) -> KafkaBroker:  # fmt: skip
    """The FastStream broker with the router's subscriber (`settings=None`: AsyncAPI only)."""
    if settings is None:
        broker = KafkaBroker("kafka.tatawwu.example:9092")
    else:
        # FastStream's own "Received"/"Processed" lines at DEBUG: `batch_routed` is the
        # one summary line per batch (structured, counts only).
        broker = build_broker(settings, metadata_max_age_ms=METADATA_MAX_AGE_MS,
                              log_level=logging.DEBUG)  # fmt: skip
    subscriber = broker.subscriber(
        pattern=ingress_pattern(topic_prefix),
        group_id=router.group if router is not None else group_for(topic_prefix),
        group_instance_id=f"{topic_prefix}{instance_id}",
        batch=True,
        max_records=max_records,
        batch_timeout_ms=BATCH_TIMEOUT_MS,
        max_partition_fetch_bytes=8 * 1024 * 1024,
        ack_policy=AckPolicy.MANUAL,  # never commits: the offsets go in the transaction
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        parser=raw_parser,
        decoder=raw_decoder,
        listener=Rebalancing(router) if router is not None else None,
        title=f"{INGRESS_PREFIX}{{org}}:{NAME}",
        description=DESCRIPTION,
    )

    @subscriber
    async def route(message: KafkaMessage) -> None:
        if router is not None:
            router.consumer = subscriber.consumer
            await router.handle(message.raw_message)

    return broker


async def serve(
    settings: Settings,
    *,
    topic_prefix: str = "",
    instance_id: str = "router-1",
    metrics_port: int | None = None,
    max_records: int = MAX_RECORDS,
    stopping: asyncio.Event | None = None,
    handle_signals: bool = True,
) -> None:
    """Route until SIGTERM/SIGINT (or `stopping`); the batch in flight finishes first."""
    stopping = stopping or asyncio.Event()
    if handle_signals:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
    router = Router(settings, topic_prefix=topic_prefix, instance_id=instance_id)
    ops, purging, forgetting = None, None, None
    if metrics_port:
        ops = await start_ops_server(settings.metrics_host, metrics_port, router.readiness)
    broker = build_router_broker(settings, router, topic_prefix=topic_prefix,
                                 instance_id=instance_id, max_records=max_records)  # fmt: skip
    await router.start()  # fences a predecessor before the consumer reads offsets
    try:
        await broker.start()
        tune_gc()
        log.info("router_started", group=router.group, instance=instance_id,
                 pattern=ingress_pattern(topic_prefix))  # fmt: skip
        if router.keys is not None:  # the day's dead-letter keys, past their retention
            purging = asyncio.create_task(run_key_retention(
                router.keys, settings.deadletter_keep_days, settings.retention_interval_s,
                stopping, topic_prefix,
            ))  # fmt: skip
        forgetting = asyncio.create_task(run_forgetting(
            settings, settings.ingress_forget_interval_s, stopping, topic_prefix))  # fmt: skip
        await stopping.wait()
    finally:
        for task in (purging, forgetting):
            if task is not None:
                await task
        await broker.stop()
        await router.close()
        if ops is not None:
            ops.close()
        log.info("router_stopped")
