"""The projectors' per-record decode: `decode_record` (both content modes) vs `decode_event`.

The runtime decodes every record with `decode_record(record.value, record.headers)` so that
binary-mode CloudEvents (`ce_` headers) are read too. For a structured record, which is
every record the platform itself writes, that must cost no more than a scan of the header
names on top of `decode_event`. This times, in one process and alternating rounds, the
loop as it was (`decode_event`), the loop as it is (`decode_record`) and `decode_record` as
first written (headers copied and lowered for every record), over the same records carrying
the headers `infra.bus.emit` writes (content type, traceparent, correlation id); and the
runtime's whole `decode_batch` before and after, in its slices. Timed in this thread's
CPU time (`time.thread_time`), so that other processes on a shared machine do not count.

    .venv/bin/python -m benchmarks.bench_decode_record [--records N] [--rounds R]
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka.structs import ConsumerRecord

from consumers.runtime.batch import DECODE_SLICE, Dead, Pair, decode_batch
from schemas.binding import decode_record, structured_from_kafka
from schemas.decode import decode_event
from schemas.errors import DecodeError
from schemas.registry import spec_of
from tests.support.streams import build_stream

TRACEPARENT = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def records(count: int) -> list[ConsumerRecord[bytes, bytes]]:
    """`count` valid records with the headers the emit function writes."""
    stream = build_stream(count, seed=11, duplicate_share=0, invalid_share=0)
    headers = (
        ("content-type", b"application/cloudevents+json"),
        ("traceparent", TRACEPARENT),
        ("correlation_id", b"4bf92f3577b34da6a3ce929d0e0e4736"),
    )
    return [
        ConsumerRecord(topic, 0, n, 0, 0, key, value, None, len(key), len(value), headers)
        for n, (topic, key, value) in enumerate(stream.records[:count])
    ]


def before_fast_path(value: bytes | None, headers: Any) -> Any:
    """`decode_record` as first written: headers listed and lowered for every record."""
    document = structured_from_kafka(value, headers)
    if isinstance(document, DecodeError):
        return document
    return decode_event(document)


def decode_batch_before(records: Sequence[Any], topic_prefix: str = "") -> Any:
    """The runtime's `decode_batch` as it was: `decode_event(record.value)`."""
    good: list[Pair] = []
    dead: list[Dead] = []
    for record in records:
        try:
            result = decode_event(record.value or b"")
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


def loops(batch: Sequence[ConsumerRecord[bytes, bytes]]) -> dict[str, Callable[[], None]]:
    def old() -> None:
        for record in batch:
            decode_event(record.value or b"")

    def new() -> None:
        for record in batch:
            decode_record(record.value, record.headers)

    def first() -> None:
        for record in batch:
            before_fast_path(record.value, record.headers)

    def batch_before() -> None:
        for start in range(0, len(batch), DECODE_SLICE):
            decode_batch_before(batch[start : start + DECODE_SLICE])

    def batch_now() -> None:
        for start in range(0, len(batch), DECODE_SLICE):
            decode_batch(batch[start : start + DECODE_SLICE])

    return {
        "decode_event (before)": old,
        "decode_record (now)": new,
        "decode_record (first)": first,
        "decode_batch (before)": batch_before,
        "decode_batch (now)": batch_now,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    batch = records(args.records)
    timings: dict[str, list[float]] = {}
    named = loops(batch)
    for run in named.values():  # warm up every path once
        run()
    gc.freeze()
    for _ in range(args.rounds):
        for name, run in named.items():  # alternating: drift hits every loop alike
            gc.collect()
            start = time.thread_time()
            run()
            timings.setdefault(name, []).append(time.thread_time() - start)
    print(f"{len(batch)} records, {args.rounds} alternating rounds; against the 'before'")
    print("of its kind: best-of-rounds (robust to other load) and the median of paired rounds")
    for name, values in timings.items():
        kind = (
            "decode_batch (before)" if name.startswith("decode_batch") else "decode_event (before)"
        )
        best, base = min(values), min(timings[kind])
        # Each round against the same round's 'before': a paired figure.
        paired = statistics.median(v / o for v, o in zip(values, timings[kind], strict=True))
        print(
            f"  {name:24} best {best / len(batch) * 1e6:6.2f} us/record"
            f"  {100 * (best / base - 1):+5.1f}%  paired median {100 * (paired - 1):+5.1f}%"
        )


if __name__ == "__main__":
    main()
