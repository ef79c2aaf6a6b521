"""Projector benchmark parts (c), (d) and (e): Tatawwu's projectors as processes.

(c) each projector's rate, run as `tatawwu projections run NAME`; (d) freshness, Kafka
ack -> visible in the campaigns read model at a steady rate; (e) the campaigns
projector's RSS as history grows. Run by `benchmarks.bench_projectors`.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson

from benchmarks.support import PROJECTOR_TOPICS as TOPICS
from benchmarks.support import ROOT, delete_topics
from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import create_prefixed_topics, end_offsets, wait_caught_up
from tests.support.streams import Stream, build_stream, publish


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far (Linux `/proc`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def projector_rate(
    settings: Settings, name: str, prefix: str, schema: str, cpu: list[float] | None = None
) -> tuple[float, float]:
    """(events/s from process start, events/s sustained after the first commit).

    The projector runs as its own process, `tatawwu projections run NAME`, as in
    production: "from start" includes the interpreter start, the schema's migrations
    and the group join. `cpu` receives the process's CPU µs per event while sustained
    (what a loaded machine disturbs least).
    """
    projector = PROJECTORS[name]
    conn = await connect(settings)
    ends = await end_offsets(settings, [prefix + t for t in projector.topics])
    records = sum(ends.values())
    began = time.perf_counter()
    proc = start_projector_process(prefix, schema, f"bench-{schema}", name)
    try:
        while not (
            await conn.fetchval("select to_regclass($1)", f'"{schema}"._stats')
            and await conn.fetchval(f'select events_applied from "{schema}"._stats')
        ):
            if proc.poll() is not None:
                msg = f"projector {name} exited with {proc.returncode}"
                raise RuntimeError(msg)
            await asyncio.sleep(0.005)
        steady_from, cpu_from = time.perf_counter(), cpu_seconds(proc.pid)
        done = int(
            await conn.fetchval(f'select coalesce(sum(next_offset), 0) from "{schema}"._offsets')
        )
        await wait_caught_up(conn, schema, ends, wait_s=900)
        now = time.perf_counter()
        if cpu is not None:
            cpu.append((cpu_seconds(proc.pid) - cpu_from) * 1e6 / max(1, records - done))
        return records / (now - began), (records - done) / (now - steady_from)
    finally:
        proc.terminate()
        proc.wait(30)
        await conn.close()


def start_projector_process(
    prefix: str, schema: str, group: str, name: str = "campaigns"
) -> subprocess.Popen[bytes]:
    """`tatawwu projections run NAME` as its own process, as in production."""
    env = {**os.environ, "TATAWWU_LOG_LEVEL": "ERROR"}
    cmd = [sys.executable, "-m", "tatawwu", "projections", "run", name, "--topic-prefix",
           prefix, "--schema", schema, "--group-id", group]  # fmt: skip
    return subprocess.Popen(
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def freshness(settings: Settings, rate: int, seconds: int) -> tuple[float, float, float]:
    """p50/p99/max ms from Kafka ack to the event id being visible in the read model."""
    tag = uuid.uuid4().hex[:8]
    prefix, schema = f"fresh.{tag}.", f"bench_fresh_{tag}"
    await create_prefixed_topics(settings, prefix)
    stream = build_stream(rate * seconds, seed=99, duplicate_share=0, invalid_share=0)
    records = [r for r in stream.records if r[1] != b"bad"]
    proc = start_projector_process(prefix, schema, f"g-{schema}")
    producer = build_producer(settings, linger_ms=0)
    await producer.start()
    conn = await connect(settings)
    acked: dict[str, float] = {}
    pending: dict[str, float] = {}
    latencies: list[float] = []

    async def send_one(topic: str, key: bytes, value: bytes, event_id: str) -> None:
        await (await producer.send(prefix + topic, value, key=key))
        acked[event_id] = pending[event_id] = time.perf_counter()

    async def watch() -> None:
        while len(latencies) < len(records):
            if pending:
                rows = await conn.fetch(
                    f'select event_id from "{schema}"._events where event_id = any($1::text[])',
                    list(pending),
                )
                now = time.perf_counter()
                for r in rows:
                    latencies.append((now - pending.pop(r["event_id"])) * 1000)
            await asyncio.sleep(0.005)

    try:
        while await conn.fetchval("select to_regclass($1)", f'"{schema}"._offsets') is None:  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await asyncio.sleep(2)  # joined the group and positioned
        watcher = asyncio.create_task(watch())
        interval, began, sends = 1 / rate, time.perf_counter(), []
        for n, (topic, key, value) in enumerate(records):
            if (delay := began + n * interval - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            document = orjson.loads(value)
            event_id = f"{document['source']} {document['id']}"  # identity: source and id
            sends.append(asyncio.create_task(send_one(topic, key, value, event_id)))
        await asyncio.gather(*sends)
        await asyncio.wait_for(watcher, timeout=60)
    finally:
        proc.terminate()
        proc.wait(30)
        await producer.stop()
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()
        await delete_topics(settings, prefix)
    lat = sorted(latencies)
    return statistics.median(lat), lat[int(len(lat) * 0.99) - 1], lat[-1]


def rss_mb(pid: int) -> float:
    """A process's resident set size in MB (Linux `/proc`)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def memory_profile(
    settings: Settings, prefix: str, schema: str, stream_records: list, chunks: int = 4
) -> list[tuple[int, float]]:
    """Feed the stream in chunks to a projector process; RSS after each chunk is applied."""
    # A separate process on purpose: its RSS is what we measure.
    proc = start_projector_process(prefix, schema, f"mem-{schema}")
    producer = build_producer(settings)
    await producer.start()
    conn = await connect(settings)
    out = []
    try:
        size = len(stream_records) // chunks
        for c in range(chunks):
            part = Stream(records=stream_records[c * size : (c + 1) * size])
            await publish(producer, part, prefix)
            ends = await end_offsets(settings, [prefix + t for t in TOPICS])
            await wait_caught_up(conn, schema, ends, wait_s=600)
            applied = await conn.fetchval(f'select events_applied from "{schema}"._stats')
            out.append((applied, rss_mb(proc.pid)))
    finally:
        proc.terminate()
        proc.wait(30)
        await producer.stop()
        await conn.close()
    return out
