"""A batch as values: records decoded into events and dead letters, and what applying did."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.runtime.projector import Accumulator
from infra import tracing
from infra.keys import KeyService
from infra.opening import open_records
from infra.sealing import kids_of, open_event
from schemas import ownership
from schemas.binding import decode_record
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.registry import spec_of, type_of
from schemas.volunteers import VolunteerErased

Record = ConsumerRecord[bytes, bytes]
Pair = tuple[Record, Event[Any]]
# Records per partition, each list in offset order (what `getmany` returns).
Fetched = dict[TopicPartition, list[Record]]
DECODE_SLICE = 20  # records decoded between two yields (~0.2 ms)
TRACES_LOGGED = 5  # distinct trace ids named in a batch's summary line
TRACE_SCAN = 64  # records looked at for them (the batch's first): bounded per batch
CE_TRACEPARENT = "ce_traceparent"  # a binary-mode CloudEvent's own trace (see `trace_of`)
ERASED = type_of(VolunteerErased)


@dataclass
class Dead:
    """A record the projector cannot process, and why."""

    record: Record
    reason: str
    detail: str
    event_id: str | None = None
    event_type: str | None = None
    event: Event[Any] | None = None  # when it decoded (refused or failed to apply)


@dataclass(slots=True)
class DecodedBatch:
    """A fetched batch, decoded ahead of its transaction."""

    fetched: Fetched  # the records by partition, as fetched
    records: list[Record]  # the same records in one list (partitions sorted)
    good: list[Pair]  # records that decoded, with their event
    dead: list[Dead]  # records that did not (bad bytes, wrong topic)
    began: float  # perf_counter once decoded (the batch's apply duration starts here)
    prepared: Any = None  # the projector's precomputed part of every decoded event
    traces: list[str] = field(default_factory=list)  # first few trace ids (`trace_ids`)

    @classmethod
    def empty(cls) -> DecodedBatch:
        """No records: a batch that only looks at parked facts."""
        return cls({}, [], [], [], time.perf_counter())


@dataclass
class BatchOutcome:
    """What one batch did (for the summary log line and the tests)."""

    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    skipped: int = 0
    dead: int = 0
    refused: int = 0  # by the ownership rules (among `dead`)
    parked: int = 0  # waiting for the claim that decides their owner
    unparked: int = 0  # parked earlier, judged again in this batch
    offsets: dict[TopicPartition, int] = field(default_factory=dict)
    claims: dict[ownership.Key, str] = field(default_factory=dict)  # made by this batch
    claims_mark: int | None = None  # `infra.claims.claims_mark` at the batch's start
    rules: dict[str, int] = field(default_factory=dict)  # refusals by rule


def identity(event: Event[Any]) -> str:
    """An event's identity: its `source` and its `id` (neither can hold a space)."""
    return f"{event.source} {event.id}"


def trace_of(record: Record) -> str | None:
    """The trace id in a record's `traceparent` header (None: absent or malformed).

    A binary-mode CloudEvent from an SDK carries its trace as the `ce_traceparent`
    attribute header instead (the distributed tracing extension): read when there is no
    `traceparent` header.
    """
    if not record.headers:
        return None
    trace_id = tracing.trace_id_of(tracing.extract(record.headers))
    if trace_id is None:
        for name, value in record.headers:
            if name.lower() == CE_TRACEPARENT:
                return tracing.trace_id_of(tracing.extract((("traceparent", value),)))
    return trace_id


def trace_ids(records: Sequence[Record]) -> list[str]:
    """The first few distinct trace ids among a batch's first records, in order.

    Bounded twice (TRACES_LOGGED ids, TRACE_SCAN records) so the summary line costs the
    same for any batch; a record's own line (a dead letter, a parked fact) names its
    exact trace.
    """
    seen: set[bytes] = set()  # traceparent values parsed already (one parse per value)
    found: list[str] = []
    for record in records[:TRACE_SCAN]:
        for name, value in record.headers or ():
            if name == "traceparent" or name == CE_TRACEPARENT:
                raw = bytes(value or b"")
                if raw not in seen:
                    seen.add(raw)
                    trace_id = tracing.trace_id_of(tracing.extract((("traceparent", raw),)))
                    if trace_id is not None and trace_id not in found:
                        found.append(trace_id)
                break
        if len(found) == TRACES_LOGGED:
            break
    return found


def trace_fields(records: Sequence[Record]) -> dict[str, Any]:
    """Log fields for a line about these records: the first one's `trace_id` (the record
    the line names as `first`) and the first few distinct `trace_ids` among them."""
    first = trace_of(records[0]) if records else None
    return {"trace_id": first, "trace_ids": trace_ids(records)}


# The records of the events being applied, for an `apply` that wants their trace
# (`applying_traces`); set by the runtime around each apply, empty otherwise.
_APPLYING: ContextVar[Sequence[Pair]] = ContextVar("applying", default=())


@contextlib.contextmanager
def applying(pairs: Sequence[Pair]) -> Iterator[None]:
    """While applying these pairs, `applying_traces` can name each event's trace."""
    token = _APPLYING.set(pairs)
    try:
        yield
    finally:
        _APPLYING.reset(token)


def applying_traces(events: Sequence[Event[Any]]) -> list[str | None]:
    """The trace id of the record each event came from, while the runtime applies them.

    None for an event with no trace, or applied outside the runtime (a canary, a test).
    Costs nothing unless called: only the notifier asks, to keep its cause's trace.
    """
    records = {id(event): record for record, event in _APPLYING.get()}
    return [trace_of(records[id(event)]) if id(event) in records else None for event in events]


def group(records: Sequence[Record]) -> Fetched:
    """Records by partition (each partition's records keep their order)."""
    fetched: Fetched = {}
    for record in records:
        fetched.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
    return fetched


def decode_batch(
    records: Sequence[Record], topic_prefix: str = "", opened: dict[int, bytes] | None = None
) -> tuple[list[Pair], list[Dead]]:
    """Split records into decoded events and dead letters (bad bytes, wrong topic).

    Either CloudEvents content mode (`schemas.binding.decode_record`): structured (the
    value is the event) or binary (`ce_` headers, the value its data). `opened`: values
    (by the record's `id`) to decode instead, their personal fields opened
    (`infra.opening`); one that does not decode is decoded as the record holds it.

    Nothing a record holds may stop the loop: whatever decoding one raises (a bug in a
    validator or an upcaster the contract tests missed) makes that record a dead letter.
    """
    good: list[Pair] = []
    dead: list[Dead] = []
    for record in records:
        try:
            result: Event[Any] | DecodeError | None = None
            if opened and (clear := opened.get(id(record))) is not None:
                result = decode_record(clear, record.headers)
            if result is None or isinstance(result, DecodeError):
                result = decode_record(record.value, record.headers)
            if isinstance(result, DecodeError):
                reason, summary = str(result.reason), result.summary()
                dead.append(Dead(record, reason, summary, result.event_id, result.event_type))
            elif spec_of(result).topic.name != record.topic.removeprefix(topic_prefix):
                detail = f"{result.type} belongs on {spec_of(result).topic.name}, not this topic"
                dead.append(Dead(record, "wrong_topic", detail, result.id, result.type))
            else:
                good.append((record, result))
        except Exception as exc:
            detail = f"decoding raised {type(exc).__name__} (a decoder bug; the record is kept)"
            dead.append(Dead(record, "undecodable", detail))
    return good, dead


async def decode(
    fetched: Fetched,
    topic_prefix: str = "",
    precompute: Callable[[], Accumulator] | None = None,
    opener: Opener | None = None,
) -> DecodedBatch:
    """Decode (open, precompute) a batch in slices, yielding to the transaction in flight.

    `opener` replaces encrypted personal fields by their clear values (one key lookup
    for the whole batch, `infra.sealing`), before the precomputed fold sees the events.
    """
    records = [r for tp in sorted(fetched) for r in fetched[tp]]
    accumulator = precompute() if precompute else None
    early = accumulator if opener is None else None  # fed while decoding, when it can be
    opened = await opener.before_decoding(records) if opener is not None else {}
    good: list[Pair] = []
    dead: list[Dead] = []
    for start in range(0, len(records), DECODE_SLICE):
        g, d = decode_batch(records[start : start + DECODE_SLICE], topic_prefix, opened)
        good += g
        dead += d
        if early is not None:
            early.add([event for _, event in g])
        await asyncio.sleep(0)
    if opener is not None:
        good = await opener(good)
        if accumulator is not None:
            for start in range(0, len(good), DECODE_SLICE):
                accumulator.add([event for _, event in good[start : start + DECODE_SLICE]])
                await asyncio.sleep(0)
    prepared = accumulator.result() if accumulator is not None else None
    # Here, off the critical path: the previous batch's transaction is in flight.
    traces = trace_ids(records)
    return DecodedBatch(fetched, records, good, dead, time.perf_counter(), prepared, traces)


def opener_of(keys: KeyService) -> Opener:
    """The `opener` of `decode` over a key service (see `Opener`)."""
    return Opener(keys)


@dataclass(frozen=True)
class Opener:
    """Opens encrypted personal fields through a key service.

    Before decoding (`before_decoding`), the records the platform encrypted open at the
    bytes level and decode as the clear records they stand for (`infra.opening`); after
    it (a call on the pairs), whatever is still encrypted opens the usual way
    (`infra.sealing.open_event`): other forms, records freed from parking.

    A batch holding `volunteer.erased` first makes the key service forget that volunteer's
    key, and opens none of their facts: from then on no fact of theirs opens in this
    process, whatever its cache held (the key was destroyed before the fact was published;
    other processes forget it when they read the same fact, on the same partition).
    """

    keys: KeyService

    async def before_decoding(self, records: Sequence[Record]) -> dict[int, bytes]:
        """The records' values opened before decoding, by the record's `id`."""
        values = await open_records(self.keys, [record.value for record in records])
        return {id(records[n]): value for n, value in values.items()}

    async def __call__(self, pairs: list[Pair]) -> list[Pair]:
        erased = {event.subject for _, event in pairs if event.type == ERASED}
        for volunteer_id in erased:
            self.keys.forget(volunteer_id)
        if erased:  # one erased in a form the bytes were not searched for (binary mode)
            pairs = [_sealed_again(p) if p[1].subject in erased else p for p in pairs]
        kids = kids_of([event for _, event in pairs if event.subject not in erased])
        if not kids:
            return pairs  # nothing encrypted (most batches): no lookup, no copy
        found = await self.keys.keys_by_id(kids)
        return [
            (record, event if event.subject in erased else open_event(event, found))
            for record, event in pairs
        ]


def _sealed_again(pair: Pair) -> Pair:
    """The pair decoded from its record as it is (its personal fields not opened)."""
    record = pair[0]
    if record is None:  # an event handed over without its record: it was not opened early
        return pair
    again = decode_record(record.value, record.headers)
    return pair if isinstance(again, DecodeError) else (record, again)
