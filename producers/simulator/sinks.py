"""Where the records go: straight to Kafka, through the partner gateway, or to a JSON-lines file.

Kafka sends go through the shared bus (`infra.bus.send`: CloudEvents content type,
traceparent, per-partition batches) and are pipelined: a chunk of records is handed over
and its futures are awaited only every `ACK_CHUNK` records, so batches fill while earlier
ones are in flight. The producer stays idempotent with acks=all (`build_producer`); only
batching is tuned here.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra import tracing
from infra.bus import Outgoing, send
from infra.db import create_pool
from infra.kafka import build_producer
from infra.keys import build_key_service
from infra.sealing import seal_records
from infra.settings import Settings
from producers.simulator.chaos import Record
from schemas.topics import VOLUNTEERS

Progress = Callable[[int], None]
# Measured on the 2-core dev machine (benchmarks/bench_simulator.py): larger batches
# and a short linger roughly double throughput over the defaults; gzip costs more CPU
# than it saves on loopback, and lz4 needs a package we do not ship.
PRODUCER_TUNING = {"linger_ms": 20, "max_batch_size": 512 * 1024, "max_request_size": 4 << 20}
ACK_CHUNK = 20_000
SEND_CHUNK = 5_000
# Sealed copies remembered so a duplicate stays an exact copy of its original; bounded so a
# national run keeps flat memory (a duplicate follows its original within
# chaos.DUPLICATE_DELAY = 2,000 records: 10x that is ample).
SEALED_MEMO = 20_000
# Data keys the simulator keeps: a producer trusts a cached key for `key_cache_s` (2 s) only,
# so the settings' 200,000 (sized for the gateway) held ~1 GB of keys no send could use again:
# a national run to Kafka peaked at 1.5 GB. A few chunks' worth of volunteers is enough.
SIM_KEY_CACHE = 20_000
PROGRESS_EVERY = 1_000
GATEWAY_BATCH = 500
GATEWAY_RETRIES = 20


class GatewayRefused(RuntimeError):
    """The gateway refused a batch of valid events (a key, permission or gateway problem)."""


@dataclass
class Delivery:
    """What the destination made of the records."""

    sent: int = 0
    accepted: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)


class Pacer:
    """Holds a sender to `rate` records per second (0: as fast as possible)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.perf_counter()

    async def pace(self, sent: int) -> None:
        if self.rate <= 0:
            return
        ahead = sent / self.rate - (time.perf_counter() - self.started)
        if ahead > 0.002:
            await asyncio.sleep(ahead)


def forget_oldest(memo: dict[bytes, bytes], limit: int) -> None:
    """Drop the oldest entries of `memo` (insertion order) beyond `limit`."""
    for raw in list(itertools.islice(memo, max(0, len(memo) - limit))):
        del memo[raw]


async def send_to_kafka(
    settings: Settings, records: Iterable[Record], *, rate: float = 0.0, progress: Progress
) -> Delivery:
    """Publish every record to its topic under its key; return once all are acknowledged.

    `records` may be a generator: it is read a chunk at a time, as the sends go.
    """
    producer = build_producer(settings, **PRODUCER_TUNING)
    await producer.start()
    # The simulator speaks as the platform: personal fields leave encrypted (infra.sealing).
    pool = await create_pool(settings, min_size=1, max_size=1)
    keys = (
        build_key_service(
            settings.model_copy(
                update={"key_cache_size": min(settings.key_cache_size, SIM_KEY_CACHE)}
            ),
            pool,
        )
        if settings.encrypt_personal
        else None
    )
    sealed: dict[bytes, bytes] = {}  # the same bytes seal once: duplicates stay exact copies
    token = tracing.begin()  # one trace per simulation run
    pacer, delivery = Pacer(rate), Delivery()
    # Unpaced, large hand-overs fill whole batches (a partition's next batch waits for the
    # previous one to leave); paced runs hand over ~20 ms of records, so the pace stays smooth.
    step = SEND_CHUNK if rate <= 0 else max(1, min(SEND_CHUNK, int(rate / 50)))
    pending: set[asyncio.Future[object]] = set()
    unacked = sent = 0
    source = iter(records)
    try:
        while chunk := list(itertools.islice(source, step)):
            outgoing = [Outgoing(*r[:3]) for r in chunk]
            if keys is not None:
                outgoing = await seal_records(keys, outgoing, VOLUNTEERS.name, sealed)
                forget_oldest(sealed, SEALED_MEMO)
            pending.update(await send(producer, outgoing))
            progress(len(chunk))
            unacked += len(chunk)
            sent += len(chunk)
            if unacked >= ACK_CHUNK:
                await asyncio.gather(*pending)
                pending.clear()
                unacked = 0
            await pacer.pace(sent)
        await asyncio.gather(*pending)
    finally:
        tracing.end(token)
        await producer.stop()
        await pool.close()
    delivery.sent = delivery.accepted = sent
    return delivery


async def send_to_gateway(
    url: str,
    key: str,
    records: Iterable[Record],
    *,
    rate: float = 0.0,
    progress: Progress,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Delivery:
    """POST valid events in batches of 500; each invalid record alone (one bad event
    refuses its whole request, so batching them would refuse good events too)."""
    delivery, pacer = Delivery(), Pacer(rate)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    client = httpx.AsyncClient(
        base_url=url.rstrip("/"), headers=headers, timeout=30, transport=transport
    )
    async with client:
        batch: list[bytes] = []

        async def flush() -> None:
            if batch:
                await _post(client, b"[" + b",".join(batch) + b"]", len(batch), False, delivery)
                progress(len(batch))
                batch.clear()

        for record in records:
            if record.kind == "invalid":
                await flush()
                await _post(client, record.value, 1, True, delivery)
                progress(1)
            else:
                batch.append(record.value)
                if len(batch) == GATEWAY_BATCH:
                    await flush()
            await pacer.pace(delivery.sent + len(batch))
        await flush()
    return delivery


async def _post(
    client: httpx.AsyncClient, body: bytes, count: int, invalid: bool, delivery: Delivery
) -> None:
    """One request, retried while the gateway says so (429 and 503 carry Retry-After)."""
    for _attempt in range(GATEWAY_RETRIES):
        response = await client.post("/v1/events", content=body)
        if response.status_code not in (429, 503):
            break
        await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
    delivery.sent += count
    if response.status_code == 202:
        delivery.accepted += count
        if invalid:
            delivery.problems.append("the gateway accepted a record that is invalid")
        return
    delivery.refused += count
    if not invalid:
        problem = response.text[:500]
        msg = f"the gateway refused {count} valid events ({response.status_code}): {problem}"
        raise GatewayRefused(msg)


async def write_file(
    path: Path, records: Iterable[Record], *, rate: float = 0.0, progress: Progress
) -> Delivery:
    """JSON lines, one record value a line, in send order (`tatawwu publish` reads them)."""
    pacer, count = Pacer(rate), 0
    with path.open("wb", buffering=1 << 20) as out:
        for count, record in enumerate(records, start=1):
            out.write(record.value + b"\n")
            if count % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
            if rate > 0:
                await pacer.pace(count)
    progress(count % PROGRESS_EVERY)
    return Delivery(sent=count, accepted=count)


async def discard(records: Iterable[Record], *, progress: Progress) -> Delivery:
    """Count the records and drop them (`--via null`: generation alone, for measuring)."""
    count = 0
    for count, _record in enumerate(records, start=1):
        if count % PROGRESS_EVERY == 0:
            progress(PROGRESS_EVERY)
            await asyncio.sleep(0)
    progress(count % PROGRESS_EVERY)
    return Delivery(sent=count, accepted=count)
