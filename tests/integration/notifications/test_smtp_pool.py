"""Pooled SMTP connections against the aiosmtpd sink: reused, TLS on each, replaced after a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from consumers.notifications.providers import DeliveryError, Providers
from consumers.notifications.templates import Email
from infra.local.sinks import Sinks, read_smtp
from infra.settings import Settings

MAIL = Email(subject="Welcome", text="Hello", html="<p>Hello</p>", language="en")


async def send_many(providers: Providers, ids: list[str]) -> list[str]:
    return await asyncio.gather(*(providers.email(i, "v@example.org", MAIL) for i in ids))


async def test_many_emails_share_a_few_connections(settings: Settings, tmp_path: Path) -> None:
    """30 emails at once over a pool of 3: the sink sees 3 connections and 30 messages."""
    async with Sinks(tmp_path, smtp_port=0, sms_port=0) as sinks, httpx.AsyncClient() as http:
        providers = Providers(settings.model_copy(update={
            "smtp_url": sinks.smtp_url, "notify_smtp_connections": 3}), http)  # fmt: skip
        ids = [f"ntf-{n}" for n in range(30)]
        assert await send_many(providers, ids) == [f"<{i}@tatawwu>" for i in ids]
        await providers.close()
        assert (providers.smtp.opened, sinks.smtp_connections) == (3, 3)
    assert sorted(m["message_id"] for m in read_smtp(tmp_path)) == sorted(
        f"<{i}@tatawwu>" for i in ids
    )


async def test_a_pooled_connection_is_encrypted_before_it_logs_in(
    settings: Settings, tmp_path: Path
) -> None:
    """STARTTLS and AUTH once per connection, not per message; every message over TLS."""
    async with Sinks(tmp_path, smtp_port=0, sms_port=0, starttls=True,
                     login=("relay-user", "s3cret")) as sinks, httpx.AsyncClient() as http:  # fmt: skip
        url = f"smtp://relay-user:s3cret@{sinks.host}:{sinks.smtp_port}"
        providers = Providers(settings.model_copy(update={
            "smtp_url": url, "smtp_ca_file": str(sinks.tls_cert),
            "notify_smtp_connections": 1}), http)  # fmt: skip
        for n in range(5):
            await providers.email(f"ntf-{n}", "v@example.org", MAIL)
        await providers.close()
    assert sinks.credentials is not None
    assert sinks.credentials.attempts == [{"mechanism": "PLAIN", "tls": True, "ok": True}]
    assert [m["tls"] for m in read_smtp(tmp_path)] == [True] * 5


async def test_after_the_relay_restarts_the_pool_reconnects(
    settings: Settings, tmp_path: Path
) -> None:
    """Open connections die with the relay: while it is down a send fails (retryable), once
    it is back the next sends go over new connections; each message stored once."""
    async with httpx.AsyncClient() as http:
        sinks = await Sinks(tmp_path, smtp_port=0, sms_port=0).start()
        port = sinks.smtp_port
        providers = Providers(settings.model_copy(update={
            "smtp_url": sinks.smtp_url, "notify_smtp_connections": 2}), http)  # fmt: skip
        await send_many(providers, ["ntf-a1", "ntf-a2", "ntf-a3", "ntf-a4"])
        await sinks.stop()
        with pytest.raises(DeliveryError) as down:
            await providers.email("ntf-down", "v@example.org", MAIL)
        assert not down.value.permanent
        again = await Sinks(tmp_path, smtp_port=port, sms_port=0).start()
        try:
            await send_many(providers, ["ntf-b1", "ntf-b2", "ntf-b3", "ntf-down"])
            await providers.close()
        finally:
            await again.stop()
    assert 2 < providers.smtp.opened <= 5  # the dead ones replaced, then reused
    assert again.smtp_connections <= 2
    stored = sorted(m["message_id"] for m in read_smtp(tmp_path))
    assert stored == sorted(f"<ntf-{k}@tatawwu>" for k in ("a1", "a2", "a3", "a4", "b1", "b2",
                                                            "b3", "down"))  # fmt: skip
