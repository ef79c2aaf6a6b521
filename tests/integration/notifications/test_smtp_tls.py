"""SMTP transport security against the aiosmtpd sink with a real TLS handshake.

`smtp://` upgrades with STARTTLS when the relay offers it (before any AUTH), a relay
without it gets nothing when TLS is required, `smtps://` is implicit TLS, and the relay's
certificate is verified (against `TATAWWU_SMTP_CA_FILE`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from consumers.notifications.providers import DeliveryError, Providers
from consumers.notifications.templates import Email
from infra.db import connect
from infra.local.sinks import Sinks, read_sms, read_smtp
from infra.settings import Settings
from tests.integration.notifications.conftest import ledger, notifier
from tests.integration.notifications.world import publish_events, registered
from tests.support.projectors import create_prefixed_topics

MAIL = Email(subject="Welcome", text="Hello", html="<p>Hello</p>", language="en")


async def send(settings: Settings, notification_id: str = "ntf-1") -> str:
    async with httpx.AsyncClient() as http:
        return await Providers(settings, http).email(notification_id, "v@example.org", MAIL)


def smtp(base: Settings, url: str, sinks: Sinks, **changes: object) -> Settings:
    ca = str(sinks.tls_cert) if sinks.tls_cert else ""
    return base.model_copy(update={"smtp_url": url, "smtp_ca_file": ca, **changes})


async def test_credentials_go_only_after_starttls(settings: Settings, tmp_path: Path) -> None:
    """The relay offers STARTTLS: the client upgrades, then logs in, then sends."""
    async with Sinks(tmp_path, smtp_port=0, sms_port=0, starttls=True,
                     login=("relay-user", "s3cret")) as sinks:  # fmt: skip
        url = f"smtp://relay-user:s3cret@{sinks.host}:{sinks.smtp_port}"
        assert await send(smtp(settings, url, sinks)) == "<ntf-1@tatawwu>"
    assert sinks.credentials is not None
    assert sinks.credentials.attempts == [{"mechanism": "PLAIN", "tls": True, "ok": True}]
    [stored] = read_smtp(tmp_path)
    assert stored["tls"] is True


async def test_without_credentials_starttls_is_used_when_offered(
    settings: Settings, tmp_path: Path
) -> None:
    """Personal data is encrypted too, not only passwords: no login, still upgraded."""
    async with Sinks(tmp_path, smtp_port=0, sms_port=0, starttls=True) as sinks:
        await send(smtp(settings, sinks.smtp_url, sinks))
    assert [m["tls"] for m in read_smtp(tmp_path)] == [True]


async def test_required_tls_and_a_relay_without_starttls_sends_nothing(
    settings: Settings, tmp_path: Path
) -> None:
    """The error says why; it is retryable like any provider outage (the relay may be fixed)."""
    async with Sinks(tmp_path, smtp_port=0, sms_port=0) as sinks:
        with pytest.raises(DeliveryError) as error:
            await send(smtp(settings, sinks.smtp_url, sinks, smtp_require_tls=True))
        await send(smtp(settings, sinks.smtp_url, sinks), "ntf-2")  # not required: plain
    assert "does not offer STARTTLS and TATAWWU_SMTP_REQUIRE_TLS is set" in str(error.value)
    assert not error.value.permanent
    assert [(m["message_id"], m["tls"]) for m in read_smtp(tmp_path)] == [
        ("<ntf-2@tatawwu>", False)
    ]


async def test_credentials_are_never_sent_in_clear(settings: Settings, tmp_path: Path) -> None:
    """A relay without STARTTLS never sees the password, even when TLS is not required."""
    async with Sinks(tmp_path, smtp_port=0, sms_port=0, login=("relay-user", "s3cret")) as sinks:
        url = f"smtp://relay-user:s3cret@{sinks.host}:{sinks.smtp_port}"
        with pytest.raises(DeliveryError, match="credentials are never sent in clear"):
            await send(smtp(settings, url, sinks))
    assert sinks.credentials is not None
    assert sinks.credentials.attempts == []
    assert read_smtp(tmp_path) == []


async def test_smtps_is_implicit_tls(settings: Settings, tmp_path: Path) -> None:
    """`smtps://` speaks TLS from the first byte."""
    async with Sinks(tmp_path, smtp_port=0, sms_port=0, smtps_port=0) as sinks:
        await send(smtp(settings, sinks.smtps_url, sinks))
    assert [m["tls"] for m in read_smtp(tmp_path)] == [True]


async def test_an_untrusted_certificate_is_refused(settings: Settings, tmp_path: Path) -> None:
    """Without the sink's certificate as CA file, the handshake fails and nothing is sent."""
    async with Sinks(tmp_path, smtp_port=0, sms_port=0, starttls=True, smtps_port=0) as sinks:
        for url in (sinks.smtp_url, sinks.smtps_url):
            with pytest.raises(DeliveryError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
                await send(settings.model_copy(update={"smtp_url": url, "smtp_ca_file": ""}))
    assert read_smtp(tmp_path) == []


@pytest.mark.kafka
@pytest.mark.postgres
async def test_the_notifier_retries_an_email_the_relay_could_not_take_securely(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Required TLS, a relay without STARTTLS: the email waits for a retry with the reason
    in the ledger, the SMS goes out, and the relay stores nothing."""
    settings = notifier_settings.model_copy(update={"smtp_require_tls": True})
    prefix, schema = f"ntft.{unique}.", f"ntft_{unique}"
    await create_prefixed_topics(settings, prefix)
    await publish_events(settings, prefix, [registered("v-1")])
    conn = await connect(settings)
    try:
        async with notifier(settings, prefix, schema) as task:
            deadline = asyncio.get_running_loop().time() + 60
            rows: dict[str, dict[str, object]] = {}
            while not (rows.get("email", {}).get("last_error")
                       and rows.get("sms", {}).get("status") == "sent"):  # fmt: skip
                assert asyncio.get_running_loop().time() < deadline, f"not yet: {rows}"
                assert not task.done()
                await asyncio.sleep(0.2)
                rows = {str(r["channel"]): r for r in await ledger(conn, schema)}
    finally:
        await conn.close()
    email = rows["email"]
    assert email["status"] in ("pending", "sending")
    assert "does not offer STARTTLS and TATAWWU_SMTP_REQUIRE_TLS is set" in str(email["last_error"])
    assert len(read_sms(sinks.directory)) == 1
    assert read_smtp(sinks.directory) == []
