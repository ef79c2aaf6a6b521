"""The local sinks' ceiling, measured directly (no ledger, no notifier), for `bench_notifier`.

The messages are the notifier's own (the welcome, rendered by its templates and, for
email, written by its `MailWriter`), so the sinks parse and store what they would from
the notifier, and the client costs what the notifier's rendering costs, no less.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiosmtplib
import httpx

from consumers.notifications.mime import MailWriter, RawMail
from consumers.notifications.templates import render_email, render_sms
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parent.parent
OLD_CONCURRENCY = 10  # the old notifier's sends at a time
BATCH, BATCH_REQUESTS = 100, 4  # the notifier's SMS batch size and requests in flight
VARIABLES = {"name": "مريم", "opportunity": "", "starts_at": "", "hours": ""}


class SinkProcess:
    """`python -m infra.local.sinks` on free ports, in the given directory."""

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


WRITER = MailWriter("Tatawwu <no-reply@tatawwu.example>")


def email(n: int, tag: str) -> RawMail:
    """The notifier's welcome email, rendered and written as the notifier does."""
    mail = render_email("welcome", "ar", VARIABLES)
    raw = WRITER.write(f"{tag}-{n}", f"v-{n}@example.org", mail.subject, mail.text, mail.html,
                       mail.language)  # fmt: skip
    assert raw is not None
    return raw


async def smtp_pooled(sinks: SinkProcess, n: int, connections: int, tag: str) -> None:
    """`n` emails over `connections` open connections, each sending one after another."""

    async def one_connection(first: int) -> None:
        client = aiosmtplib.SMTP(hostname=sinks.host, port=sinks.smtp_port)
        await client.connect()
        for i in range(first, n, connections):
            mail = email(i, tag)
            await client.sendmail(mail.sender, mail.recipients, mail.data)
        await client.quit()

    await asyncio.gather(*(one_connection(c) for c in range(connections)))


async def smtp_per_message(sinks: SinkProcess, n: int, tag: str) -> None:
    limit = asyncio.Semaphore(OLD_CONCURRENCY)

    async def one(i: int) -> None:
        async with limit:
            mail = email(i, tag)
            await aiosmtplib.send(mail.data, sender=mail.sender, recipients=mail.recipients,
                                  hostname=sinks.host, port=sinks.smtp_port)  # fmt: skip

    await asyncio.gather(*(one(i) for i in range(n)))


async def sms_batches(client: httpx.AsyncClient, sinks: SinkProcess, n: int, tag: str) -> None:
    """`n` SMS in batches of `BATCH`, `BATCH_REQUESTS` requests at a time."""
    text = render_sms("welcome", "ar", VARIABLES)
    limit = asyncio.Semaphore(BATCH_REQUESTS)

    async def one(first: int) -> None:
        messages = [{"to": f"+9745{i:07d}", "body": text, "sender": "Tatawwu",
                     "idempotency_key": f"{tag}-{i}"} for i in range(first, min(n, first + BATCH))]  # fmt: skip
        async with limit:
            response = await client.post(sinks.sms_url + "/batch", json={"messages": messages})
        response.raise_for_status()
        assert all(r["status"] == "accepted" for r in response.json()["results"])

    await asyncio.gather(*(one(first) for first in range(0, n, BATCH)))


async def sms_single(client: httpx.AsyncClient, sinks: SinkProcess, n: int, tag: str) -> None:
    text = render_sms("welcome", "ar", VARIABLES)
    limit = asyncio.Semaphore(OLD_CONCURRENCY)

    async def one(i: int) -> None:
        async with limit:
            response = await client.post(
                sinks.sms_url, json={"to": f"+9745{i:07d}", "body": text},
                headers={"Idempotency-Key": f"{tag}-{i}"},
            )  # fmt: skip
        response.raise_for_status()

    await asyncio.gather(*(one(i) for i in range(n)))


async def ceilings(sinks: SinkProcess, n: int, connections: int) -> dict[str, float]:
    """Messages a second the sinks take, each way, for `n` messages."""
    rates: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=30) as client:

        async def timed(what: str, *work: object) -> None:
            began = time.perf_counter()
            await asyncio.gather(*work)  # type: ignore[arg-type]
            rates[what] = n / (time.perf_counter() - began)

        await timed(f"SMTP, {connections} pooled connections ({n:,} emails)",
                    smtp_pooled(sinks, n, connections, "p"))  # fmt: skip
        await timed(f"SMS batch endpoint, {BATCH} a request ({n:,} SMS)",
                    sms_batches(client, sinks, n, "b"))  # fmt: skip
        await timed("both at once, half email, half SMS",
                    smtp_pooled(sinks, n // 2, connections, "mp"),
                    sms_batches(client, sinks, n - n // 2, "mb"))  # fmt: skip
        await timed(f"old way: a connection per email, {OLD_CONCURRENCY} at a time",
                    smtp_per_message(sinks, n, "o"))  # fmt: skip
        await timed(f"old way: a request per SMS, {OLD_CONCURRENCY} at a time",
                    sms_single(client, sinks, n, "s"))  # fmt: skip
    return rates


async def mix_ceiling(sinks: SinkProcess, n: int, connections: int, tag: str) -> float:
    """Messages a second the sinks take for the notifier's mix: half email, half SMS at once."""
    async with httpx.AsyncClient(timeout=30) as client:
        began = time.perf_counter()
        await asyncio.gather(smtp_pooled(sinks, n // 2, connections, f"{tag}mp"),
                             sms_batches(client, sinks, n - n // 2, f"{tag}mb"))  # fmt: skip
        return n / (time.perf_counter() - began)
