"""Decoding speed of the event contract: the consumers' hot path, single core.

Builds a traffic-like mix of distinct events (mostly sign-ups, check-ins, check-outs and
verified hours; few registrations and campaign events), encodes them as partners would
(compact JSON, +03:00 offsets), then times `decode_event` against plain `json.loads` and
`orjson.loads` of the same bytes (parsing only: the ceiling), and the v1 upcast path.
Crypto-shredding: the same registrations and mix with their personal fields encrypted as
the platform writes them (`infra.sealing`, one data key per volunteer, keys cached as a
projector holds them): decoding alone, decoding and opening, and encrypting.

    .venv/bin/python -m benchmarks.bench_decode [--events N] [--repeat R]

Times are CPU times of this process (`time.process_time`), best of R passes.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import time
from collections.abc import Callable

import orjson
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from rich.console import Console
from rich.table import Table

from infra.keys import DataKey
from infra.opening import candidate, opened
from infra.sealing import open_event, seal_event
from schemas import DecodeError, decode_event, encode_event
from schemas.examples import example
from schemas.personal import sealable_fields
from tests.support.events import event

# Relative weights of event types in a busy week (per 100 events).
MIX = {
    "volunteer.signed_up": 22,
    "volunteer.checked_in": 20,
    "volunteer.checked_out": 19,
    "volunteer.hours_verified": 15,
    "notification.sent": 8,
    "volunteer.signup_withdrawn": 3,
    "volunteer.no_show": 3,
    "volunteer.registered": 3,
    "volunteer.profile_updated": 1.5,
    "volunteer.consent_changed": 1,
    "notification.suppressed": 1,
    "notification.failed": 0.5,
    "opportunity.published": 1.5,
    "opportunity.cancelled": 0.2,
    "campaign.launched": 0.3,
    "campaign.updated": 0.3,
    "campaign.closed": 0.2,
    "organization.registered": 0.1,
    "organization.suspended": 0.05,
}
ID_FIELDS = ("volunteer_id", "opportunity_id", "campaign_id", "org_id", "notification_id")


def make_event(
    event_type: str, number: int, rng: random.Random, version: int | None = None
) -> bytes:
    """One distinct event of `event_type` as compact JSON bytes, like a partner sends."""
    payload = example(event_type, version)["data"]
    ids = {field: f"{field[:3]}-{rng.randrange(10**7)}" for field in ID_FIELDS if field in payload}
    day, hour = rng.randint(1, 28), rng.randint(0, 23)
    time = f"2025-03-{day:02d}T{hour:02d}:15:07.{number % 1000:03d}+03:00"
    document = event(event_type, f"evt-{number:09d}", time, version=version, check=False, **ids)
    if version is None and rng.random() < 0.5:  # half the partners omit dataschema
        del document["dataschema"]
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def build_mix(count: int, seed: int = 7) -> list[bytes]:
    """`count` events drawn with the MIX weights."""
    rng = random.Random(seed)
    types = rng.choices(list(MIX), weights=list(MIX.values()), k=count)
    return [make_event(event_type, number, rng) for number, event_type in enumerate(types)]


def sealed_copies(records: list[bytes]) -> tuple[list[bytes], dict[str, DataKey], list]:
    """The records with personal fields encrypted (a key per volunteer), the keys by kid,
    and the decoded clear events that carry personal fields (to time encryption)."""
    keys: dict[str, DataKey] = {}
    out, personal = [], []
    for raw in records:
        event = decode_event(raw)
        assert not isinstance(event, DecodeError)
        if not sealable_fields(type(event.data)):
            out.append(raw)
            continue
        key = DataKey(f"kid-{len(keys):08d}", event.subject, AESGCM(os.urandom(32)))
        keys[key.kid] = key
        personal.append((event, key))
        out.append(encode_event(seal_event(event, key)))
    return out, keys, personal


def opener(keys: dict[str, DataKey]) -> Callable[[bytes], object]:
    """decode_event, then open what is encrypted (as a projector does, keys cached)."""

    def decode_and_open(raw: bytes) -> object:
        event = decode_event(raw)
        if sealable_fields(type(event.data)):  # type: ignore[union-attr]
            return open_event(event, keys)  # type: ignore[arg-type]
        return event

    return decode_and_open


def early_opener(keys: dict[str, DataKey]) -> Callable[[bytes], object]:
    """Open before decoding, then decode the clear record (what the projectors do now,
    `infra.opening`; keys cached); a record that does not open decodes as it is."""

    def open_and_decode(raw: bytes) -> object:
        found = candidate(raw)
        clear = opened(found, keys.get(found[2])) if found is not None else None
        return decode_event(clear if clear is not None else raw)

    return open_and_decode


def rate(function: Callable[[bytes], object], records: list[bytes], repeat: int) -> float:
    """Best events/s over `repeat` passes (the least disturbed by other processes), by
    this process's CPU time: on a machine shared with other work, wall-clock time also
    counts the time the scheduler gave to others (measured: 5-10x under a load of 20)."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        for record in records:
            function(record)
        best = min(best, time.process_time() - started)
    return len(records) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="events in the mix")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the best one counts")
    args = parser.parse_args()

    records = build_mix(args.events)
    failures = [r for r in records[:2000] if isinstance(decode_event(r), DecodeError)]
    if failures:
        raise SystemExit(f"benchmark mix does not decode: {decode_event(failures[0])}")
    rng = random.Random(11)
    v1_count = max(1000, args.events // 10)
    v1 = [make_event("volunteer.registered", n, rng, version=1) for n in range(v1_count)]
    v2 = [make_event("volunteer.registered", n, rng) for n in range(v1_count)]
    assert not isinstance(decode_event(v1[0]), DecodeError)

    sealed_mix, mix_keys, _ = sealed_copies(records)
    sealed_v2, v2_keys, personal = sealed_copies(v2)
    pairs = [(event, key) for event, key in personal]
    encrypt_rate = rate(lambda pair: seal_event(*pair), pairs, args.repeat)  # type: ignore[arg-type]
    size = sum(map(len, records)) / len(records)
    json_rate = rate(json.loads, records, args.repeat)
    rows = [
        ("decode_event (mix)", rate(decode_event, records, args.repeat)),
        ("json.loads (mix, parsing only)", json_rate),
        ("orjson.loads (mix, parsing only)", rate(orjson.loads, records, args.repeat)),
        ("decode_event, registrations v2", rate(decode_event, v2, args.repeat)),
        ("decode_event, registrations v1 + upcast", rate(decode_event, v1, args.repeat)),
        ("decode_event (mix, personal fields encrypted)", rate(decode_event, sealed_mix, args.repeat)),
        ("decode_event + open (mix, encrypted)", rate(opener(mix_keys), sealed_mix, args.repeat)),
        ("decode_event, registrations v2 encrypted", rate(decode_event, sealed_v2, args.repeat)),
        ("decode_event + open, registrations v2 encrypted",
         rate(opener(v2_keys), sealed_v2, args.repeat)),
        ("open before decoding (mix, encrypted)", rate(early_opener(mix_keys), sealed_mix,
                                                       args.repeat)),
        ("open before decoding, registrations v2 encrypted",
         rate(early_opener(v2_keys), sealed_v2, args.repeat)),
        ("encrypt (seal_event), registrations v2, decoded", encrypt_rate),
    ]  # fmt: skip
    table = Table(title=f"Decoding {len(records):,} events (mean {size:.0f} bytes), one core")
    table.add_column("path")
    table.add_column("events/s", justify="right")
    table.add_column("µs/event", justify="right")
    table.add_column("time vs json.loads (mix)", justify="right")
    for name, events_per_s in rows:
        table.add_row(
            name,
            f"{events_per_s:,.0f}",
            f"{1e6 / events_per_s:.2f}",
            f"{json_rate / events_per_s:.2f}x",
        )
    console = Console(width=100)
    console.print(table)
    decode_rate = rows[0][1]
    verdict = "met" if decode_rate >= 100_000 and json_rate / decode_rate <= 3 else "MISSED"
    console.print(
        f"target (>= 100,000 events/s and within 3x of json.loads): {verdict} "
        f"({decode_rate:,.0f} events/s, {json_rate / decode_rate:.2f}x)"
    )


if __name__ == "__main__":
    main()
