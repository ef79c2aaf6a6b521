"""Notifier throughput, side by side in one run, against the local Kafka, PostgreSQL and sinks.

  (a) ceilings: raw aiosmtplib sends and raw httpx POSTs to the local sinks, 10 at a time
      (the notifier's concurrency), no ledger;
The sinks run as their own process (`python -m infra.local.sinks`), as with
`tatawwu platform run`; the clients and the notifier run in this one.
  (b) Tatawwu: `N` registrations (a welcome email and SMS each) published, then the
      notifier started; messages sent per second from start until every ledger row is
      sent and its `notification.sent` event published.

    .venv/bin/python -m benchmarks.bench_notifier [--volunteers 1000]

Uses its own topic prefix, schema and sink directory; removes them afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import httpx
from rich.console import Console
from rich.table import Table

from consumers.notifications.service import serve
from infra.db import connect
from infra.logging import configure_logging
from infra.settings import Settings
from tests.integration.notifications.world import publish_events, registered
from tests.support.ports import free_port
from tests.support.projectors import create_prefixed_topics

ROOT = Path(__file__).resolve().parent.parent
console = Console()
CONCURRENCY = 10


class SinkProcess:
    """`python -m infra.local.sinks` on free ports, in a temporary directory."""

    def __init__(self, directory: Path) -> None:
        self.host = "127.0.0.1"
        self.smtp_port, self.sms_port = free_port(), free_port()
        self.smtp_url = f"smtp://{self.host}:{self.smtp_port}"
        self.sms_url = f"http://{self.host}:{self.sms_port}/v1/messages"
        cmd = [sys.executable, "-m", "infra.local.sinks", "--smtp-port", str(self.smtp_port),
               "--sms-port", str(self.sms_port), "--dir", str(directory)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)  # fmt: skip

    async def ready(self) -> None:
        for _ in range(200):
            if all(port_open(self.host, p) for p in (self.smtp_port, self.sms_port)):
                return
            await asyncio.sleep(0.05)
        msg = "the sinks did not start"
        raise RuntimeError(msg)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


async def ceiling_smtp(sinks: SinkProcess, n: int) -> float:
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(i: int) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@x.example", "b@x.example", f"m{i}"
        message.set_content("مرحباً " * 40)
        async with limit:
            await aiosmtplib.send(message, hostname=sinks.host, port=sinks.smtp_port)

    began = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    return n / (time.perf_counter() - began)


async def ceiling_sms(sinks: SinkProcess, n: int) -> float:
    limit = asyncio.Semaphore(CONCURRENCY)
    async with httpx.AsyncClient(timeout=10) as client:

        async def one(i: int) -> None:
            async with limit:
                response = await client.post(
                    sinks.sms_url, json={"to": "+97455501234", "body": "مرحباً"},
                    headers={"Idempotency-Key": f"bench-{i}"},
                )  # fmt: skip
                response.raise_for_status()

        began = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return n / (time.perf_counter() - began)


async def notifier_rate(settings: Settings, volunteers: int) -> tuple[float, int]:
    tag = uuid.uuid4().hex[:8]
    prefix, schema = f"benchntf.{tag}.", f"bench_ntf_{tag}"
    await create_prefixed_topics(settings, prefix)
    await publish_events(settings, prefix, [registered(f"v-{n}") for n in range(volunteers)])
    expected = 2 * volunteers
    conn = await connect(settings)
    stopping = asyncio.Event()
    began = time.perf_counter()
    task = asyncio.create_task(serve(settings, schema=schema, group_id=f"g-{schema}",
                                     topic_prefix=prefix, stopping=stopping, handle_signals=False))  # fmt: skip
    try:
        while True:
            if task.done():
                task.result()
            if await conn.fetchval("select to_regclass($1)", f'"{schema}".outbox'):
                done = await conn.fetchval(
                    f"""select count(*) from "{schema}".outbox where status = 'sent' and reported"""
                )
                if done >= expected:
                    break
            await asyncio.sleep(0.05)
        return expected / (time.perf_counter() - began), expected
    finally:
        stopping.set()
        await task
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    configure_logging("ERROR", "console")
    directory = Path(tempfile.mkdtemp(prefix="bench-sinks-"))
    sinks = SinkProcess(directory)
    try:
        await sinks.ready()
        settings = Settings().model_copy(update={
            "smtp_url": sinks.smtp_url, "sms_url": sinks.sms_url, "notify_quiet_hours": "",
        })  # fmt: skip
        n = 2 * args.volunteers
        rows = [
            ("ceiling", f"aiosmtplib -> SMTP sink ({n // 2:,} emails)",
             f"{await ceiling_smtp(sinks, n // 2):,.0f} emails/s"),
            ("ceiling", f"httpx -> SMS sink ({n // 2:,} messages)",
             f"{await ceiling_sms(sinks, n // 2):,.0f} SMS/s"),
        ]  # fmt: skip
        rate, sent = await notifier_rate(settings, args.volunteers)
        rows.append(("tatawwu", f"notifier, from start to all sent and reported ({sent:,})",
                     f"{rate:,.0f} messages/s"))  # fmt: skip
    finally:
        sinks.stop()
        shutil.rmtree(directory, ignore_errors=True)
    table = Table(title="Notifier: welcome email + SMS per registration")
    for column in ("kind", "what", "rate"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=1000)
    asyncio.run(main(parser.parse_args()))
