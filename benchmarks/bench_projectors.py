"""Projector throughput, side by side in one run against the local Kafka and PostgreSQL.

  (a) ceilings: raw aiokafka `getmany` of the same records with no processing, and
      raw PostgreSQL `COPY` of as many participation rows;
  (b) naive: a plain FastStream subscriber, one autocommitted upsert per event;
  (c) Tatawwu: each projector as its own process (`tatawwu projections run NAME`);
  (d) freshness: event acknowledged by Kafka -> visible in the campaigns read model,
      p50/p99 at a steady rate (default 2,000 events/s);
  (e) memory: the campaigns projector's RSS as history grows (run as its own process);
  (f) optional --rebuild-events N: `rebuild` of the campaigns model from N events.

    .venv/bin/python -m benchmarks.bench_projectors [--events 200000] [--rebuild-events 1000000]

Each run uses its own topic prefix and schemas and drops/deletes them afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
from aiokafka import TopicPartition
from rich.console import Console
from rich.table import Table

from consumers.participations import upsert_participations
from consumers.rebuild import rebuild
from consumers.runtime import tune_gc
from infra.db import connect
from infra.kafka import build_admin, build_broker, build_consumer, build_producer
from infra.logging import configure_logging
from infra.settings import Settings
from schemas.decode import decode_event
from schemas.errors import DecodeError
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import create_prefixed_topics, end_offsets, wait_caught_up
from tests.support.streams import build_stream, publish

ROOT = Path(__file__).resolve().parent.parent
console = Console()
TOPICS = ("tatawwu.campaigns", "tatawwu.signups", "tatawwu.attendance")


async def ceiling_getmany(settings: Settings, prefix: str, total: int) -> float:
    consumer = build_consumer(settings, fetch_max_bytes=16 << 20, max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        tps = [
            TopicPartition(prefix + t, p) for t in TOPICS for p in range(6 if t != TOPICS[0] else 3)
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        began, seen = time.perf_counter(), 0
        while seen < total:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            seen += sum(len(v) for v in batch.values())
        return seen / (time.perf_counter() - began)
    finally:
        await consumer.stop()


async def ceiling_copy(settings: Settings, rows: int) -> float:
    conn = await connect(settings)
    try:
        await conn.execute("create temp table bench_copy (volunteer_id text, opportunity_id text,"
                           " campaign_id text, checked_in_at timestamptz, hours numeric)")  # fmt: skip
        import datetime as dt

        now = dt.datetime.now(dt.UTC)
        records = [(f"vol-{i}", f"opp-{i % 500}", f"cmp-{i % 50}", now, 2.5) for i in range(rows)]
        began = time.perf_counter()
        async with conn.transaction():
            await conn.copy_records_to_table("bench_copy", records=records)
        return rows / (time.perf_counter() - began)
    finally:
        await conn.close()


async def naive(settings: Settings, prefix: str, limit: int, schema: str) -> float:
    """A plain FastStream subscriber: decode, one upsert per event, autocommitted."""
    from faststream.kafka import KafkaMessage

    conn = await connect(settings)
    await conn.execute(f'create schema "{schema}"; set search_path to "{schema}"')
    for path in sorted((ROOT / "consumers/sql_participations").glob("*.sql")):
        await conn.execute(path.read_text())
    broker = build_broker(settings, logger=None)  # no per-message log lines: a fair baseline
    done = asyncio.Event()
    count = 0

    @broker.subscriber(
        *[prefix + t for t in TOPICS], group_id=f"naive-{schema}", auto_offset_reset="earliest"
    )
    async def handle(msg: KafkaMessage) -> None:
        nonlocal count
        event = decode_event(msg.body)
        if not isinstance(event, DecodeError) and event.type.startswith("volunteer."):
            await upsert_participations(conn, [event])
        count += 1
        if count >= limit:
            done.set()

    began = time.perf_counter()
    await broker.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=600)
        return count / (time.perf_counter() - began)
    finally:
        await broker.stop()
        await conn.execute(f'drop schema "{schema}" cascade')
        await conn.close()


async def projector_rate(
    settings: Settings, name: str, prefix: str, schema: str
) -> tuple[float, float]:
    """(events/s from process start, events/s sustained after the first commit).

    The projector runs as its own process, `tatawwu projections run NAME`, as in
    production: "from start" includes the interpreter start, the schema's migrations
    and the group join.
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
        steady_from = time.perf_counter()
        done = int(
            await conn.fetchval(f'select coalesce(sum(next_offset), 0) from "{schema}"._offsets')
        )
        await wait_caught_up(conn, schema, ends, wait_s=900)
        now = time.perf_counter()
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
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def memory_profile(
    settings: Settings, prefix: str, schema: str, stream_records: list, chunks: int = 4
) -> list[tuple[int, float]]:
    """Feed the stream in chunks to a projector process; RSS after each chunk is applied."""
    env = {**os.environ, "TATAWWU_LOG_LEVEL": "ERROR"}
    cmd = [sys.executable, "-m", "tatawwu", "projections", "run", "campaigns", "--topic-prefix", prefix,
           "--schema", schema, "--group-id", f"mem-{schema}"]  # fmt: skip
    # A separate process on purpose: its RSS is what we measure.
    proc = subprocess.Popen(  # noqa: ASYNC220
        cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    producer = build_producer(settings)
    await producer.start()
    conn = await connect(settings)
    out = []
    try:
        size = len(stream_records) // chunks
        from tests.support.streams import Stream

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


async def delete_topics(settings: Settings, prefix: str) -> None:
    admin = build_admin(settings)
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if names:
            await admin.delete_topics(names)
    finally:
        await admin.close()


async def drop_schemas(settings: Settings, *schemas: str) -> None:
    conn = await connect(settings)
    try:
        for schema in schemas:
            await conn.execute(f'drop schema if exists "{schema}" cascade')
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    configure_logging("ERROR", "console")
    tag = uuid.uuid4().hex[:8]
    prefix = f"bench.{tag}."
    await create_prefixed_topics(settings, prefix)
    console.print(f"generating and publishing {args.events:,} events ...")
    stream = build_stream(
        args.events, seed=1, volunteers=max(2000, args.events // 5), opportunities=400
    )
    producer = build_producer(settings, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    await publish(producer, stream, prefix)
    await producer.stop()
    total = len(stream.records)
    tune_gc()  # as `tatawwu projections run` and `rebuild` do once started
    rows: list[tuple[str, str, str]] = []

    class Rows(list):  # print each figure as soon as it is measured
        def append(self, row: tuple[str, str, str]) -> None:
            console.print("  " + " | ".join(row))
            super().append(row)

    rows = Rows()
    schemas = [f"bench_{name}_{tag}" for name in PROJECTORS]
    try:
        ceiling = await ceiling_getmany(settings, prefix, total)
        rows.append(("ceiling", "aiokafka getmany, no processing", f"{ceiling:,.0f}"))
        rows.append(
            (
                "ceiling",
                "PostgreSQL COPY (participation rows)",
                f"{await ceiling_copy(settings, total):,.0f}",
            )
        )
        naive_rate = await naive(
            settings, prefix, min(total, args.naive_events), f"bench_naive_{tag}"
        )
        rows.append(
            (
                "naive",
                f"FastStream subscriber, upsert per event ({min(total, args.naive_events):,})",
                f"{naive_rate:,.0f}",
            )
        )
        for name, schema in zip(PROJECTORS, schemas, strict=True):
            rate, sustained = await projector_rate(settings, name, prefix, schema)
            rows.append((
                "tatawwu", f"{name}: sustained (from process start)",
                f"{sustained:,.0f} ({rate:,.0f})  {sustained / naive_rate:.0f}x naive",
            ))  # fmt: skip
        p50, p99, worst = await freshness(settings, args.rate, args.fresh_seconds)
        rows.append(
            (
                "freshness",
                f"ack -> visible at {args.rate:,}/s: p50 / p99 / max ms",
                f"{p50:.0f} / {p99:.0f} / {worst:.0f}",
            )
        )
        mem = []
        if args.memory:
            await create_prefixed_topics(settings, f"mem.{tag}.")
            mem = await memory_profile(settings, f"mem.{tag}.", f"bench_mem_{tag}", stream.records)
        for applied, mb in mem:
            rows.append(("memory", f"campaigns RSS after {applied:,} events", f"{mb:.0f} MB"))
        if args.rebuild_events:
            rb_prefix = f"rb.{tag}."
            await create_prefixed_topics(settings, rb_prefix)
            big = build_stream(
                args.rebuild_events,
                seed=3,
                volunteers=args.rebuild_events // 5,
                opportunities=1000,
                duplicate_share=0,
                invalid_share=0,
            )
            producer = build_producer(settings, linger_ms=20, max_batch_size=512 * 1024)
            await producer.start()
            await publish(producer, big, rb_prefix)
            await producer.stop()
            report = await rebuild(
                settings, PROJECTORS["campaigns"], schema=f"bench_rb_{tag}", topic_prefix=rb_prefix
            )
            rows.append(
                (
                    "rebuild",
                    f"campaigns from {len(big.records):,} events",
                    f"{report.seconds:.1f} s ({len(big.records) / report.seconds:,.0f}/s)",
                )
            )
            await drop_schemas(settings, f"bench_rb_{tag}")
            await delete_topics(settings, rb_prefix)
    finally:
        await drop_schemas(settings, *schemas, f"bench_mem_{tag}")
        await delete_topics(settings, prefix)
        await delete_topics(settings, f"mem.{tag}.")
    table = Table(
        "kind",
        "what",
        "events/s (or as named)",
        title=f"Projectors, {total:,} records (campaign + participation mix, 2% duplicates)",
    )
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--naive-events", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=2_000, help="freshness: events per second")
    parser.add_argument("--fresh-seconds", type=int, default=15)
    parser.add_argument("--memory", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--rebuild-events", type=int, default=0, help="also time a rebuild from N events"
    )
    asyncio.run(main(parser.parse_args()))
