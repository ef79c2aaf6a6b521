"""The FastStream broker the plain publishing services run on, with headers sent exactly.

`build_stream_broker` is `infra.kafka.build_broker` (idempotent producer, acks=all, no
topic auto-creation: the durability the notes in KAFKA_NOTES.md ask for) with one
change: its producer sends a record's headers exactly as `infra.bus` built them.

Why: FastStream 0.7.8's `AioKafkaFastProducerImpl.publish` takes headers as
`dict[str, str]`, UTF-8-encodes each value and always adds its own `content-type` (empty
for bytes) and a random `correlation_id`. A dead letter carries the original record's
headers, which may be any bytes and may repeat a name (a binary-mode CloudEvent's `ce_*`
headers are part of the event), and a replay must put them back unchanged. So a publish
whose headers hold `RAW_HEADERS` sends that list of (name, bytes) as the record's only
headers, through the same aiokafka producer FastStream started; every other publish is
FastStream's own. `Publishers` is a set of FastStream publishers by topic, which the
AsyncAPI document is generated from and `infra.bus.publish` sends through.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from importlib.resources import files
from typing import TYPE_CHECKING, Any

from faststream.kafka import KafkaBroker
from faststream.kafka.publisher.producer import AioKafkaFastProducerImpl

from infra.kafka import build_broker
from infra.settings import Settings

if TYPE_CHECKING:
    from aiokafka.structs import RecordMetadata
    from faststream.kafka.publisher.usecase import DefaultPublisher
    from faststream.kafka.response import KafkaPublishCommand

# A header name that never reaches Kafka: its value is the exact header list to send.
RAW_HEADERS = "tatawwu-exact-headers"


class ExactHeadersProducer(AioKafkaFastProducerImpl):
    """FastStream's Kafka producer, except that `RAW_HEADERS` publishes send headers verbatim."""

    async def publish(
        self, cmd: KafkaPublishCommand
    ) -> asyncio.Future[RecordMetadata] | RecordMetadata:
        """Send `cmd.body` (bytes) with exactly the headers in `cmd.headers[RAW_HEADERS]`."""
        exact = cmd.headers.get(RAW_HEADERS)
        if exact is None:
            return await super().publish(cmd)
        # The producer state is FastStream's (pinned: faststream==0.7.8); no other client.
        future = await self._producer.producer.send(
            topic=cmd.destination,
            value=cmd.body,
            key=cmd.key,
            partition=cmd.partition,
            timestamp_ms=cmd.timestamp_ms,
            headers=list(exact),
        )
        return future if cmd.no_confirm else await future


def build_stream_broker(settings: Settings | None = None, **overrides: Any) -> KafkaBroker:
    """A FastStream broker for publishing services; `settings=None` builds a documentation one."""
    if settings is None:  # the AsyncAPI export: never connected
        broker = KafkaBroker("kafka.tatawwu.example:9092", **overrides)
    else:
        broker = build_broker(settings, **overrides)
    broker.config.broker_config.producer = ExactHeadersProducer(parser=None, decoder=None)
    return broker


class Publishers:
    """FastStream publishers by topic: the running ones and the documented ones are these."""

    def __init__(self, broker: KafkaBroker) -> None:
        self.broker = broker
        self._by_topic: dict[str, DefaultPublisher] = {}

    def declare(self, topic: str, **spec: Any) -> DefaultPublisher:
        """Declare (once) the publisher of `topic`; `spec` goes to the AsyncAPI document."""
        publisher = self._by_topic.get(topic)
        if publisher is None:
            publisher = self._by_topic[topic] = self.broker.publisher(topic, **spec)
        return publisher

    def __getitem__(self, topic: str) -> DefaultPublisher:
        return self._by_topic[topic]

    def __contains__(self, topic: object) -> bool:
        return topic in self._by_topic

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_topic)

    def topics(self) -> Iterable[str]:
        """The declared topics."""
        return self._by_topic.keys()


def published_asyncapi() -> bytes:
    """The committed AsyncAPI document (`schemas/published/asyncapi.json`), as served."""
    return files("schemas").joinpath("published", "asyncapi.json").read_bytes()


class _Committed:
    """The committed document in the shape FastStream's HTML page reads."""

    title = "Tatawwu event bus"

    def to_json(self) -> str:
        return published_asyncapi().decode()


def published_asyncapi_html() -> str:
    """FastStream's AsyncAPI page around the committed document."""
    from faststream.specification.asyncapi.site import get_asyncapi_html

    return get_asyncapi_html(_Committed())  # type: ignore[arg-type]
