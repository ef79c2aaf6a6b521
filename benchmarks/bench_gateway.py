"""Gateway throughput and latency against the running local stack, beside the raw producer.

(a) raw aiokafka: the ceiling (idempotent producer, sends pipelined, all acks awaited),
    with the project's default producer options and again with the gateway's;
(b) the gateway with batches of 500 from a few concurrent HTTP clients;
(c) single-event requests at a fixed 200 requests/s: latency p50/p99;
(d) crypto-shredding's cost, side by side in the same run: batches of sign-ups (nothing
    personal) and of registrations (every personal field encrypted under a new volunteer's
    key, made in PostgreSQL) through a gateway with encryption on and one with it off
    (`TATAWWU_ENCRYPT_PERSONAL=false`, a baseline only). Target: on within 15% of off.
The gateway runs in this process (uvicorn on an ephemeral port, on this event loop); the
HTTP load comes from a child process so that client work does not share the gateway's
interpreter. Targets: (b) >= 50% of (a), (c) p99 < 20 ms.

    .venv/bin/python -m benchmarks.bench_gateway [--events 30000] [--profile] 2>/dev/null
    .venv/bin/python -m benchmarks.bench_gateway --only-shredding [--rounds 3] 2>/dev/null  # (d)

(stderr carries the gateway's JSON log lines, one per request, as in production.)
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import multiprocessing
import pstats
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import uvicorn
from rich.console import Console
from rich.table import Table

from infra.kafka import build_producer
from infra.logging import configure_logging
from infra.settings import Settings, get_settings
from producers.gateway import create_app
from producers.gateway.app import producer_options
from producers.gateway.partners import add_partner_key, revoke_partner_key
from producers.gateway.server import bind_ephemeral, uvicorn_config
from schemas.registry import spec_for
from tests.support.events import event

BATCH = 500
CLIENTS = 4
RATE = 200
LATENCY_SECONDS = 10
SIGNUP_TOPIC = spec_for("volunteer.signed_up").topic.name


def signup(run: str, org: str, n: int, phase: str) -> dict[str, Any]:
    """A small valid sign-up in the bench organisation's campaign."""
    return event("volunteer.signed_up", f"evt-{run}-{phase}-{n}", source=f"partner/{org}",
                 volunteer_id=f"vol-{run}-{n % 5000}", campaign_id=f"cmp-{run}",
                 opportunity_id=f"opp-{run}", check=False)  # fmt: skip


def registration(run: str, org: str, n: int, phase: str) -> dict[str, Any]:
    """A registration of a new volunteer: every personal field set."""
    return event("volunteer.registered", f"evt-{run}-{phase}-{n}", source=f"partner/{org}",
                 volunteer_id=f"vol-{run}-{phase}-{n}", given_name=f"Name{n}",
                 phone=f"+9745{n:07d}", email=f"v{n}.{run}@example.qa", check=False)  # fmt: skip


MAKERS = {"batches": signup, "registrations": registration}
# The gateway process's CPU µs per event in each (d) run, by kind and on/off: a loaded
# machine swings wall-clock rates from run to run far more than CPU per event.
CPU_US: dict[str, dict[bool, list[float]]] = {k: {True: [], False: []} for k in MAKERS}


def launch(run: str, org: str) -> list[dict[str, Any]]:
    """The bench campaign and its opportunity: the claims its sign-ups need."""
    source = f"partner/{org}"
    return [
        event("campaign.launched", f"evt-{run}-launch", source=source,
              campaign_id=f"cmp-{run}", org_id=org),
        event("opportunity.published", f"evt-{run}-publish", source=source,
              campaign_id=f"cmp-{run}", opportunity_id=f"opp-{run}"),
    ]  # fmt: skip


# ------------------------------------------------------------------ (a) the ceiling


async def raw_producer(settings: Settings, run: str, org: str, count: int, **options: Any) -> float:
    """Events/s of the idempotent producer alone, records pre-encoded, all acks awaited."""
    values = [
        (e["subject"].encode(), orjson.dumps(e))
        for e in (signup(run, org, n, "a") for n in range(count))
    ]
    producer = build_producer(settings, **options)
    await producer.start()
    try:
        await (await producer.send(SIGNUP_TOPIC, values[0][1], key=values[0][0]))  # warm metadata
        began = time.perf_counter()
        futures = [await producer.send(SIGNUP_TOPIC, value, key=key) for key, value in values]
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - began)
    finally:
        await producer.stop()


# -------------------------------------------------------------- the load generator


async def _batches(
    url: str, key: str, run: str, org: str, count: int, kind: str = "batches", phase: str = "b"
) -> dict[str, Any]:
    make = MAKERS[kind]
    bodies = [
        orjson.dumps([make(run, org, n, phase) for n in range(start, min(start + BATCH, count))])
        for start in range(0, count, BATCH)
    ]
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "application/cloudevents-batch+json",
    }
    statuses: list[int] = []
    queue = list(reversed(bodies))
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        await client.post("/v1/events", content=bodies[0])  # warm-up (same ids: deduped downstream)

        async def worker() -> None:
            while queue:
                statuses.append((await client.post("/v1/events", content=queue.pop())).status_code)

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(CLIENTS)))
        elapsed = time.perf_counter() - began
    accepted = sum(BATCH for s in statuses if s == 202)
    return {"eps": min(accepted, count) / elapsed, "errors": sum(s != 202 for s in statuses)}


async def _latency(url: str, key: str, run: str, org: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/cloudevents+json"}
    bodies = [orjson.dumps(signup(run, org, n, "c")) for n in range(RATE * LATENCY_SECONDS)]
    latencies: list[float] = []
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(
        base_url=url, headers=headers, timeout=10, limits=limits
    ) as client:
        for body in bodies[:50]:  # warm-up: connections, caches
            await client.post("/v1/events", content=body)

        async def one(body: bytes) -> None:
            began = time.perf_counter()
            response = await client.post("/v1/events", content=body)
            latencies.append((time.perf_counter() - began) * 1000)
            statuses.append(response.status_code)

        loop = asyncio.get_running_loop()
        start, tasks = loop.time(), []
        for n, body in enumerate(bodies):  # open loop: a fixed schedule, not "send when done"
            await asyncio.sleep(max(0.0, start + n / RATE - loop.time()))
            tasks.append(asyncio.create_task(one(body)))
        await asyncio.gather(*tasks)
    cuts = statistics.quantiles(latencies, n=100)
    return {"p50": cuts[49], "p99": cuts[98], "errors": sum(s != 202 for s in statuses)}


def loadgen(
    kind: str, url: str, key: str, run: str, org: str, count: int, phase: str, out: Any
) -> None:
    """Child-process entry: run one load and send its result back."""
    work = (
        _latency(url, key, run, org)
        if kind == "latency"
        else _batches(url, key, run, org, count, kind, phase)
    )
    out.put(asyncio.run(work))


async def in_child(kind: str, *args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=loadgen, args=(kind, *args, out))
    child.start()
    result = await asyncio.to_thread(out.get, True, 120)
    await asyncio.to_thread(child.join)
    return result


# ----------------------------------------------------------------------------- main


@asynccontextmanager
async def running_gateway(settings: Settings) -> AsyncIterator[tuple[Any, str]]:
    """The gateway app served by uvicorn on this event loop, an ephemeral port: (app, url).

    The collector tuned as a served gateway's is (`tune_collector`, `infra.gc_tuning`): this
    process serves the gateways under test (encryption on and off alike) and does nothing
    else while they are measured (the load comes from a child process)."""
    app = create_app(settings, tune_collector=True)
    sock = bind_ephemeral()
    server = uvicorn.Server(uvicorn_config(app, settings))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
        await asyncio.sleep(0.02)
    try:
        yield app, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving


async def encryption_on_and_off(
    settings: Settings, url: str, key: str, run: str, org: str, count: int, rounds: int = 2
) -> dict[str, tuple[float, float, str]]:
    """Events/s with encryption on (the gateway at `url`) and off (a second gateway), for
    sign-ups and registrations, alternating on and off `rounds` times; medians."""
    figures: dict[str, dict[bool, list[float]]] = {k: {True: [], False: []} for k in MAKERS}
    off_settings = settings.model_copy(update={"encrypt_personal": False})
    async with running_gateway(off_settings) as (_, off_url):
        for n in range(rounds):
            for kind in MAKERS:
                for on in (True, False) if n % 2 == 0 else (False, True):
                    phase = f"d{n}{kind[0]}{int(on)}"
                    began = time.process_time()  # the gateways' process: one serves at a time
                    got = await in_child(kind, url if on else off_url, key, run, org, count, phase)
                    CPU_US[kind][on].append((time.process_time() - began) * 1e6 / count)
                    figures[kind][on].append(got["eps"])
    return {
        kind: (
            statistics.median(by[True]),
            statistics.median(by[False]),
            ", ".join(f"{a:,.0f}/{b:,.0f}" for a, b in zip(by[True], by[False], strict=True)),
        )
        for kind, by in figures.items()
    }


async def shredding_only(count: int, rounds: int) -> None:
    """(d) alone: encryption on / off, `rounds` alternating rounds, one table."""
    settings = get_settings().model_copy(
        update={"gateway_rate_per_s": 1e9, "gateway_rate_burst": 10**9}
    )
    run = uuid.uuid4().hex[:8]
    org = f"org-bench-{run}"
    async with running_gateway(settings) as (app, url):
        issued = await add_partner_key(app.state.pool, org)
        async with httpx.AsyncClient(base_url=url) as client:
            headers = {"Authorization": f"Bearer {issued.key}", "Content-Type": "application/json"}
            response = await client.post(
                "/v1/events", content=orjson.dumps(launch(run, org)), headers=headers
            )
            response.raise_for_status()
        try:
            shredding = await encryption_on_and_off(
                settings, url, issued.key, run, org, count, rounds
            )
        finally:
            await revoke_partner_key(app.state.pool, issued.key_id)
    table = Table(title=f"gateway (d): encryption on / off ({count} events, {rounds} rounds)")
    for column in ("measure", "on / off, medians", "runs (on/off)", "ratio (target >= 85%)"):
        table.add_column(column)
    for kind, (on, off, runs) in shredding.items():
        table.add_row(kind, f"{on:,.0f} / {off:,.0f} events/s", runs, f"{on / off:.0%}")
        cpu_on, cpu_off = (statistics.median(CPU_US[kind][b]) for b in (True, False))
        cpu_runs = ", ".join(
            f"{a:.0f}/{b:.0f}" for a, b in zip(CPU_US[kind][True], CPU_US[kind][False], strict=True)
        )
        table.add_row(f"{kind}: gateway CPU µs/event", f"{cpu_on:.0f} / {cpu_off:.0f}", cpu_runs,
                      f"{cpu_off / cpu_on:.0%}")  # fmt: skip
    Console().print(table)


async def bench(count: int, profile: bool) -> None:
    settings = get_settings().model_copy(
        update={"gateway_rate_per_s": 1e9, "gateway_rate_burst": 10**9}
    )
    run = uuid.uuid4().hex[:8]
    org = f"org-bench-{run}"
    ceiling = await raw_producer(settings, run, org, count)
    tuned = await raw_producer(settings, run, org, count, **producer_options(settings))

    async with running_gateway(settings) as (app, url):
        issued = await add_partner_key(app.state.pool, org)
        key = issued.key
        async with httpx.AsyncClient(base_url=url) as client:  # the bench org owns its campaign
            headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
            response = await client.post(
                "/v1/events", content=orjson.dumps(launch(run, org)), headers=headers
            )
            response.raise_for_status()
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        batches = await in_child("batches", url, key, run, org, count, "b")
        if profiler:
            profiler.disable()
        latency = await in_child("latency", url, key, run, org, count, "c")
        shredding = await encryption_on_and_off(settings, url, key, run, org, count)
        await revoke_partner_key(app.state.pool, issued.key_id)  # the key dies with the run

    table = Table(
        title=f"gateway benchmark ({count} events; batches of {BATCH}; {CLIENTS} clients)"
    )
    for column in ("measure", "result", "target", "met"):
        table.add_column(column)
    ratio = batches["eps"] / ceiling
    table.add_row("(a) raw aiokafka producer, send()", f"{ceiling:,.0f} events/s", "ceiling", "")
    table.add_row("    same, gateway's producer options", f"{tuned:,.0f} events/s", "", "")
    table.add_row("(b) gateway, batches of 500", f"{batches['eps']:,.0f} events/s", "", "")
    table.add_row("    ratio (b)/(a)", f"{ratio:.0%}", ">= 50%", "yes" if ratio >= 0.5 else "NO")
    table.add_row("    ratio (b)/(a, gateway's options)", f"{batches['eps'] / tuned:.0%}", "", "")
    table.add_row(f"(c) 1 event/request at {RATE}/s p50", f"{latency['p50']:.1f} ms", "", "")
    table.add_row(f"(c) 1 event/request at {RATE}/s p99", f"{latency['p99']:.1f} ms", "< 20 ms",
                  "yes" if latency["p99"] < 20 else "NO")  # fmt: skip
    table.add_row(
        "non-202 answers (b), (c)", f"{batches['errors']}, {latency['errors']}", "0, 0", ""
    )
    for kind, (on, off, _) in shredding.items():
        ratio = on / off
        table.add_row(f"(d) {kind}, encryption on / off", f"{on:,.0f} / {off:,.0f} events/s",
                      ">= 85%", f"{ratio:.0%} " + ("yes" if ratio >= 0.85 else "NO"))  # fmt: skip
    Console().print(table)
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000, help="events for (a) and (b)")
    parser.add_argument("--profile", action="store_true", help="cProfile the gateway during (b)")
    parser.add_argument("--only-shredding", action="store_true", help="run (d) alone")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of (d)")
    args = parser.parse_args()
    settings = get_settings()
    # As `tatawwu gateway` runs: JSON log lines (one per request), uvloop when installed.
    configure_logging(settings.log_level, "json")
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        if args.only_shredding:
            runner.run(shredding_only(args.events, args.rounds))
        else:
            runner.run(bench(args.events, args.profile))


if __name__ == "__main__":
    main()
