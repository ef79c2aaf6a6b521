"""The projectors' per-record decode: `decode_record` (both content modes) vs `decode_event`.

The runtime decodes every record with `decode_record(record.value, record.headers)` so that
binary-mode CloudEvents (`ce_` headers) are read too. For a structured record, which is
every record the platform itself writes, that must cost no more than a scan of the header
names on top of `decode_event`. This times, in one process and alternating rounds, the
loop as it was (`decode_event`), the loop as it is (`decode_record`) and `decode_record` as
first written (headers copied and lowered for every record), over the same records carrying
the headers `infra.bus.emit` writes (content type, traceparent, correlation id).

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

from schemas.binding import decode_record, structured_from_kafka
from schemas.decode import decode_event
from schemas.errors import DecodeError
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

    return {
        "decode_event (before)": old,
        "decode_record (now)": new,
        "decode_record (first)": first,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=7)
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
            start = time.perf_counter()
            run()
            timings.setdefault(name, []).append(time.perf_counter() - start)
    base = statistics.median(timings["decode_event (before)"])
    print(f"{len(batch)} records, {args.rounds} alternating rounds (median, best):")
    for name, values in timings.items():
        median, best = statistics.median(values), min(values)
        per = median / len(batch) * 1e6
        # Each round against the same round's `decode_event`: a paired, noise-robust figure.
        paired = statistics.median(
            v / o for v, o in zip(values, timings["decode_event (before)"], strict=True)
        )
        print(
            f"  {name:24} {median * 1000:8.1f} ms  best {best * 1000:8.1f} ms"
            f"  {per:6.2f} us/record  median {100 * (median / base - 1):+5.1f}%"
            f"  paired {100 * (paired - 1):+5.1f}%"
        )


if __name__ == "__main__":
    main()
