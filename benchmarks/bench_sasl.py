"""What SASL/SCRAM and the ACL checks cost: the gateway and a projector, side by side.

Two clusters in one run: the secured local stack (SASL/SCRAM, StandardAuthorizer; each
component as its own principal) and a plaintext broker started for the run with the same
settings otherwise (`KafkaCluster(secure=False)`, no authorizer: today's shape before
issue 11), on the same PostgreSQL. Measured alternately, `--rounds` times each, medians:

  (a) raw aiokafka producer (idempotent, acks=all) events/s: the ceiling;
  (b) the gateway, batches of 500 from 4 HTTP clients in a child process, events/s;
  (c) the campaigns projector as its own process (`tatawwu projections run`), sustained
      events/s over the same published stream (as the admin: its run's topics are prefixed).

    .venv/bin/python -m benchmarks.bench_sasl [--events 20000] [--projector-events 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import orjson
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from benchmarks.bench_gateway import in_child, launch, raw_producer, running_gateway
from benchmarks.projector_runs import projector_rate
from benchmarks.support import delete_topics, drop_schemas
from infra.kafka import ensure_topics
from infra.local.kafka import CONTROLLER_PORT_OFFSET, KafkaCluster
from infra.local.principals import service_password
from infra.logging import configure_logging
from infra.settings import Settings, get_settings
from producers.gateway.partners import add_partner_key, revoke_partner_key
from schemas.topics import CATALOG
from tests.support.ports import free_ports_below_ephemeral
from tests.support.projectors import create_prefixed_topics
from tests.support.streams import build_stream, publish_stream

console = Console()


@asynccontextmanager
async def plaintext_cluster(settings: Settings) -> AsyncIterator[Settings]:
    """A plaintext single broker for the run (deleted after), and settings that use it."""
    port = free_ports_below_ephemeral(0, CONTROLLER_PORT_OFFSET)
    cluster = KafkaCluster(settings.cache_dir.resolve(), port=port, secure=False)
    await asyncio.to_thread(cluster.start)
    try:
        yield settings.model_copy(
            update={"kafka_bootstrap": cluster.bootstrap, "kafka_security_protocol": None}
        )
    finally:
        await asyncio.to_thread(cluster.destroy)


def as_service(settings: Settings, name: str) -> Settings:
    """The secured stack as service principal `name` (plaintext settings: unchanged)."""
    if settings.kafka_is_external:
        return settings
    password = service_password(settings, name)
    if password is None:
        msg = f"no local principal {name!r}: run `tatawwu infra up` first"
        raise SystemExit(msg)
    return settings.model_copy(
        update={"kafka_sasl_username": name, "kafka_sasl_password": SecretStr(password)}
    )


async def gateway_batches(settings: Settings, count: int) -> float:
    """Events/s through the gateway (in this process) in batches of 500 from a child."""
    settings = as_service(settings, "gateway").model_copy(
        update={"gateway_rate_per_s": 1e9, "gateway_rate_burst": 10**9}
    )
    run = uuid.uuid4().hex[:8]
    org = f"org-bench-{run}"
    async with running_gateway(settings) as (app, url):
        issued = await add_partner_key(app.state.pool, org)
        async with httpx.AsyncClient(base_url=url) as client:
            headers = {"Authorization": f"Bearer {issued.key}", "Content-Type": "application/json"}
            answer = await client.post(
                "/v1/events", content=orjson.dumps(launch(run, org)), headers=headers
            )
            answer.raise_for_status()
        result = await in_child("batches", url, issued.key, run, org, count)
        await revoke_partner_key(app.state.pool, issued.key_id)
    if result["errors"]:
        msg = f"the gateway answered {result['errors']} requests with an error"
        raise RuntimeError(msg)
    return float(result["eps"])


async def projector_sustained(settings: Settings, stream: object, tag: str, n: int) -> float:
    """The campaigns projector's sustained events/s over `stream` on this cluster."""
    prefix = f"bsasl.{tag}.{n}."
    schema = f"bench_sasl_{tag}_{n}"
    await create_prefixed_topics(settings, prefix)
    try:
        await publish_stream(settings, stream, prefix, linger_ms=20, max_batch_size=512 * 1024)
        # Secured: as the local admin (the `projector` principal's ACLs name the canonical
        # topics, not a run's prefixed copies); SCRAM and the ACL checks cost the same.
        child = (
            {"TATAWWU_KAFKA_BOOTSTRAP": settings.bootstrap_servers}
            if settings.kafka_is_external
            else {}
        )
        saved = dict(os.environ)
        os.environ.update(child)  # read by the projector process it starts
        try:
            _, sustained = await projector_rate(settings, "campaigns", prefix, schema)
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return sustained
    finally:
        await delete_topics(settings, prefix)
        await drop_schemas(settings, schema)


async def bench(args: argparse.Namespace) -> None:
    secured = get_settings()
    configure_logging("ERROR", "console")
    tag = uuid.uuid4().hex[:8]
    stream = build_stream(
        args.projector_events, seed=1, volunteers=max(2000, args.projector_events // 5),
        opportunities=400,
    )  # fmt: skip
    figures: dict[tuple[str, str], list[float]] = {}
    async with plaintext_cluster(secured) as plain:
        await ensure_topics(plain, CATALOG)
        for n in range(args.rounds):
            for label, settings in (("plaintext", plain), ("SASL/SCRAM + ACLs", secured)):
                run = uuid.uuid4().hex[:8]
                measures = {
                    "(a) raw producer": await raw_producer(
                        as_service(settings, "gateway"), run, f"org-{run}", args.events
                    ),
                    "(b) gateway, batches of 500": await gateway_batches(settings, args.events),
                    "(c) campaigns projector, sustained": await projector_sustained(
                        settings, stream, tag, n * 2 + (label != "plaintext")
                    ),
                }
                for measure, value in measures.items():
                    figures.setdefault((measure, label), []).append(value)
                    console.print(f"  round {n + 1} {label:18} {measure:36} {value:>10,.0f}/s")
    table = Table(title=f"SASL cost (medians of {args.rounds} alternating rounds, events/s)")
    for column in ("measure", "plaintext", "SASL/SCRAM + ACLs", "SASL / plaintext"):
        table.add_column(column)
    for measure in ("(a) raw producer", "(b) gateway, batches of 500",
                    "(c) campaigns projector, sustained"):  # fmt: skip
        plain_rate = statistics.median(figures[(measure, "plaintext")])
        sasl_rate = statistics.median(figures[(measure, "SASL/SCRAM + ACLs")])
        table.add_row(measure, f"{plain_rate:,.0f}", f"{sasl_rate:,.0f}",
                      f"{sasl_rate / plain_rate:.2f}")  # fmt: skip
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events for (a) and (b)")
    parser.add_argument("--projector-events", type=int, default=100_000, help="events for (c)")
    parser.add_argument("--rounds", type=int, default=3)
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
