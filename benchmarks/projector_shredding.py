"""(g) What crypto-shredding costs a projector, side by side in one run.

One stream (a registration for every volunteer, then the campaign and participation mix)
is published twice: once with the personal fields encrypted as the platform writes them
(`infra.sealing.seal_records`, a data key per volunteer made in PostgreSQL), once in clear
(what `TATAWWU_ENCRYPT_PERSONAL=false` writes: the baseline). The volunteers and the
participation projectors (the two that read registrations) apply each as their own
process, alternating encrypted and clear `rounds` times; each run starts with an empty
key cache, as a rebuild would. Target: encrypted within 15% of clear. Beside events/s,
each projector process's CPU per event (steady part): on a machine shared with other
work the wall-clock rates swing from run to run, its CPU per event much less.
"""

from __future__ import annotations

import statistics

import orjson

from benchmarks.projector_runs import projector_rate
from benchmarks.support import delete_topics, drop_schemas
from infra.bus import Outgoing
from infra.db import create_pool
from infra.keys import build_key_service
from infra.sealing import seal_records
from infra.settings import Settings
from schemas.topics import SIGNUPS, VOLUNTEERS
from tests.support.events import event
from tests.support.projectors import create_prefixed_topics
from tests.support.streams import START, Stream, publish_stream

NAMES = ("volunteers", "participation")


def registrations(stream: Stream, tag: str) -> list[tuple[str, bytes, bytes]]:
    """A registration (every personal field set) for each volunteer the stream signs up."""
    volunteers = sorted({key for topic, key, _ in stream.records if topic == SIGNUPS.name})
    return [
        (VOLUNTEERS.name, key, orjson.dumps(event(
            "volunteer.registered", f"reg-{tag}-{n}", START, source="partner/org-test",
            volunteer_id=key.decode(), given_name=f"Name{n}", phone=f"+9745{n:07d}",
            email=f"v{n}.{tag}@example.qa", check=False,
        )))
        for n, key in enumerate(volunteers)
    ]  # fmt: skip


async def sealed(settings: Settings, records: list[tuple[str, bytes, bytes]]) -> list:
    """The records with personal fields encrypted, keys made in the real key store."""
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        keys = build_key_service(settings, pool)
        out = await seal_records(keys, [Outgoing(*r) for r in records], VOLUNTEERS.name, {})
    finally:
        await pool.close()
    return [(r.topic, r.key, r.value) for r in out]


async def shredding_rates(
    settings: Settings, stream: Stream, tag: str, rounds: int = 2
) -> list[tuple[str, str, str]]:
    """Rows for the table: each projector's sustained events/s encrypted and clear."""
    clear = [*registrations(stream, tag), *stream.records]
    prefixes = {True: f"she.{tag}.", False: f"shc.{tag}."}
    for on, prefix in prefixes.items():
        await create_prefixed_topics(settings, prefix)
        records = await sealed(settings, clear) if on else clear
        await publish_stream(settings, Stream(records), prefix, linger_ms=20,
                             max_batch_size=512 * 1024)  # fmt: skip
    figures: dict[str, dict[bool, list[float]]] = {n: {True: [], False: []} for n in NAMES}
    cpu: dict[str, dict[bool, list[float]]] = {n: {True: [], False: []} for n in NAMES}
    schemas = []
    try:
        for n in range(rounds):
            for name in NAMES:
                for on in (True, False) if n % 2 == 0 else (False, True):
                    schema = f"bench_sh{int(on)}{n}_{name[:4]}_{tag}"
                    schemas.append(schema)
                    _, sustained = await projector_rate(
                        settings, name, prefixes[on], schema, cpu[name][on]
                    )
                    figures[name][on].append(sustained)
    finally:
        await drop_schemas(settings, *schemas)
        for prefix in prefixes.values():
            await delete_topics(settings, prefix)
    rows = []
    for name, by in figures.items():
        on, off = statistics.median(by[True]), statistics.median(by[False])
        runs = ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b in zip(by[True], by[False], strict=True))
        rows.append((
            "shredding", f"{name}: encrypted / clear, sustained (runs: {runs})",
            f"{on:,.0f} / {off:,.0f} = {on / off:.0%} (target >= 85%)",
        ))  # fmt: skip
        cpu_on, cpu_off = statistics.median(cpu[name][True]), statistics.median(cpu[name][False])
        rows.append((
            "shredding", f"{name}: projector CPU per event, encrypted / clear (medians)",
            f"{cpu_on:,.0f} / {cpu_off:,.0f} µs = {cpu_off / cpu_on:.0%} of clear's events per "
            "CPU-second",
        ))  # fmt: skip
    return rows
