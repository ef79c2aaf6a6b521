"""Publish JSON-lines events, through the gateway (HTTP) or straight to Kafka.

Both paths validate each line with the same decoder consumers use, so a bad line is
reported by number and never sent. Core logic only; `tatawwu publish` wraps it.

    report = await publish_to_kafka(settings, read_lines(open("events.jsonl", "rb")))
    report = await publish_to_gateway(url, key, lines)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import httpx
from aiokafka import AIOKafkaProducer

from infra import tracing
from infra.bus import send
from infra.db import create_pool
from infra.kafka import build_producer
from infra.keys import build_key_service
from infra.sealing import seal_each
from infra.settings import Settings
from schemas.decode import decode_event
from schemas.errors import DecodeError

Progress = Callable[[int], None]
Line = tuple[int, bytes]

GATEWAY_BATCH = 500
KAFKA_WINDOW = 5000  # records in flight before awaiting their acks (bounds memory)
KAFKA_CHUNK = 500  # records handed to the bus at a time
MAX_ATTEMPTS = 5
MAX_BACKOFF_S = 30.0
RETRYABLE = frozenset({429, 502, 503, 504})
BATCH_MEDIA_TYPE = "application/cloudevents-batch+json"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A line that was not published, and why."""

    line: int
    reason: str


@dataclass
class PublishReport:
    """What a publish run did: lines accepted, lines rejected with their reasons."""

    accepted: int = 0
    rejected: list[Rejection] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every line was accepted."""
        return not self.rejected

    def reject(self, lines: Iterable[int], reason: str) -> None:
        self.rejected.extend(Rejection(line, reason) for line in lines)


def read_lines(stream: IO[bytes]) -> list[Line]:
    """Numbered non-blank lines (1-based), line terminators stripped."""
    return [(n, raw) for n, line in enumerate(stream, 1) if (raw := line.rstrip(b"\r\n")).strip()]


def _validated(
    lines: Iterable[Line], report: PublishReport, on_progress: Progress
) -> Iterator[tuple[int, bytes, Any]]:
    """Decode each line; invalid ones go straight into the report (and count as done)."""
    for number, raw in lines:
        result = decode_event(raw)
        if isinstance(result, DecodeError):
            report.reject([number], result.summary())
            on_progress(1)
        else:
            yield number, raw, result


def _noop(_: int) -> None:
    return None


# --------------------------------------------------------------------------- Kafka


async def _drain(pending: list[tuple[int, asyncio.Future[Any]]], report: PublishReport) -> None:
    if not pending:
        return
    await asyncio.wait([future for _, future in pending])
    for number, future in pending:
        if (error := future.exception()) is not None:
            report.reject([number], f"Kafka refused the record: {type(error).__name__}")
        else:
            report.accepted += 1
    pending.clear()


async def publish_to_kafka(
    settings: Settings,
    lines: Iterable[Line],
    *,
    on_progress: Progress = _noop,
    producer: AIOKafkaProducer | None = None,
) -> PublishReport:
    """Validate each line and produce it (idempotent, acks=all), pipelined, to its topic.

    Through the shared bus (`infra.bus.send`): CloudEvents headers, one trace per run, the
    default partitioner; a refused batch rejects the lines it held.
    """
    report = PublishReport()
    own = producer is None
    producer = producer or build_producer(settings)
    if own:
        await producer.start()
    token = tracing.begin()  # one trace per run, on every record's traceparent
    pending: list[tuple[int, asyncio.Future[Any]]] = []
    chunk: list[tuple[int, Any]] = []
    # Straight to Kafka is speaking as the platform: personal fields leave encrypted.
    pool = await create_pool(settings, min_size=1, max_size=1)
    keys = build_key_service(settings, pool) if settings.encrypt_personal else None

    async def hand_over() -> None:
        events = [event for _, event in chunk]
        numbers = [number for number, _ in chunk]
        if keys is not None:
            sealed = await seal_each(keys, events)
            report.reject([n for n, e in zip(numbers, sealed, strict=True) if e is None],
                          "the volunteer was erased: their personal data is not taken")  # fmt: skip
            numbers = [n for n, e in zip(numbers, sealed, strict=True) if e is not None]
            events = [e for e in sealed if e is not None]
        futures = await send(producer, events)
        pending.extend(zip(numbers, futures, strict=True))
        chunk.clear()

    try:
        for number, _raw, event in _validated(lines, report, on_progress):
            chunk.append((number, event))
            if len(chunk) >= KAFKA_CHUNK:
                await hand_over()
            if len(pending) >= KAFKA_WINDOW:
                on_progress(len(pending))
                await _drain(pending, report)
        if chunk:
            await hand_over()
        on_progress(len(pending))
        await _drain(pending, report)
    finally:
        tracing.end(token)
        await pool.close()
        if own:
            await producer.stop()
    return report


# ------------------------------------------------------------------------- gateway


def _detail(response: httpx.Response) -> tuple[str, list[dict[str, Any]]]:
    try:
        body = response.json()
    except ValueError:
        return response.reason_phrase, []
    if not isinstance(body, dict):
        return response.reason_phrase, []
    errors = body.get("errors") if isinstance(body.get("errors"), list) else []
    return str(body.get("detail") or response.reason_phrase), errors


def _item_reasons(errors: list[dict[str, Any]], size: int) -> dict[int, str]:
    """Per-item errors of a 403/422 answer, by batch index (several joined)."""
    reasons: dict[int, list[str]] = {}
    for error in errors:
        index = error.get("index")
        if isinstance(index, int) and 0 <= index < size:
            path = f"{error['path']}: " if error.get("path") else ""
            reasons.setdefault(index, []).append(f"{path}{error.get('message', '')}")
    return {index: "; ".join(parts) for index, parts in reasons.items()}


async def _post_batch(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str],
    batch: Sequence[tuple[int, bytes]],
    report: PublishReport,
) -> None:
    """Post one batch until it is accepted or refused for good."""
    attempt = 0
    while batch:
        attempt += 1
        body = b"[" + b",".join(raw for _, raw in batch) + b"]"
        try:
            response = await client.post(url, content=body, headers=headers)
        except httpx.TransportError as exc:
            status, detail, errors, wait = 0, f"gateway unreachable ({type(exc).__name__})", [], 1.0
        else:
            status = response.status_code
            detail, errors = _detail(response)
            wait = float(response.headers.get("retry-after", "1") or 1)
        numbers = [number for number, _ in batch]
        if status == 202:
            report.accepted += len(batch)
            return
        if (status in RETRYABLE or status == 0) and attempt < MAX_ATTEMPTS:
            await asyncio.sleep(min(MAX_BACKOFF_S, max(wait, 0.1 * 2**attempt)))
            continue
        reasons = _item_reasons(errors, len(batch)) if status in (403, 422) else {}
        if not reasons:  # the whole batch is refused for the same reason
            report.reject(numbers, f"HTTP {status or 'error'}: {detail}")
            return
        # The gateway refuses a batch whole: report the named items, resend the others.
        for index, reason in sorted(reasons.items()):
            report.reject([batch[index][0]], f"HTTP {status}: {reason}")
        batch = [item for index, item in enumerate(batch) if index not in reasons]


async def publish_to_gateway(
    url: str,
    key: str,
    lines: Iterable[Line],
    *,
    batch_size: int = GATEWAY_BATCH,
    on_progress: Progress = _noop,
    client: httpx.AsyncClient | None = None,
) -> PublishReport:
    """Validate each line, then POST the valid ones to `url`/v1/events in batches."""
    report = PublishReport()
    own = client is None
    headers = {"Authorization": f"Bearer {key}", "Content-Type": BATCH_MEDIA_TYPE}
    client = client or httpx.AsyncClient(timeout=60.0)
    endpoint = url.rstrip("/") + "/v1/events"
    try:
        batch: list[tuple[int, bytes]] = []
        for number, raw, _event in _validated(lines, report, on_progress):
            batch.append((number, raw))
            if len(batch) >= batch_size:
                await _post_batch(client, endpoint, headers, batch, report)
                on_progress(len(batch))
                batch = []
        if batch:
            await _post_batch(client, endpoint, headers, batch, report)
            on_progress(len(batch))
    finally:
        if own:
            await client.aclose()
    return report
