"""SMTP transport security against the aiosmtpd sink with a real TLS handshake.

`smtp://` upgrades with STARTTLS when the relay offers it (before any AUTH), a relay
without it gets nothing when TLS is required, `smtps://` is implicit TLS, and the relay's
certificate is verified (against `TATAWWU_SMTP_CA_FILE`).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from consumers.notifications.providers import DeliveryError, Providers
from consumers.notifications.templates import Email
from infra.local.sinks import Sinks, read_smtp
from infra.settings import Settings

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
