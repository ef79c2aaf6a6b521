"""The providers the notifier hands messages to: real SMTP (aiosmtplib) and an SMS HTTP API.

Each send carries the notification id as its idempotency key (SMTP `Message-ID` and
`X-Idempotency-Key`, SMS `Idempotency-Key`), so a repeat after a lost lease is dropped.
SMTP is encrypted whenever the relay allows: `smtps://` is implicit TLS, `smtp://`
upgrades with STARTTLS when offered (required with `TATAWWU_SMTP_REQUIRE_TLS`, and
whenever the URL carries credentials); the relay's certificate is checked against the
system's CAs or `TATAWWU_SMTP_CA_FILE`.

Fast paths for broadcasts: email goes over a small pool of open SMTP connections
(`smtp_pool.py`, `TATAWWU_NOTIFY_SMTP_CONNECTIONS`; each made by `_connect`, so every
rule above holds on each), and SMS in batches (`sms_batch`: the provider's batch
endpoint, one result per message, each with its own idempotency key). Every send takes
a `ready` hook that runs once the message has its connection or its batch, just before
the request: the sender's rate limit and lease check.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import aiosmtplib
import httpx

from consumers.notifications.mime import MailWriter, RawMail
from consumers.notifications.rules import is_permanent_http, is_permanent_smtp
from consumers.notifications.smtp_pool import Ready, SmtpPool
from consumers.notifications.templates import Email
from infra.settings import Settings


class DeliveryError(Exception):
    """The provider did not take the message; `permanent` when retrying cannot help."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.permanent = permanent


@dataclass(frozen=True)
class Sms:
    """One SMS of a batch: its idempotency key (the notification id), number and text."""

    notification_id: str
    to: str
    text: str


class Providers:
    """Real SMTP (aiosmtplib, pooled connections) and the SMS provider's HTTP API."""

    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.http = http
        url = urlsplit(settings.smtp_url)
        self._implicit_tls = url.scheme == "smtps"
        self._tls = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
        self._smtp = {
            "hostname": url.hostname or "127.0.0.1",
            "port": url.port or (465 if self._implicit_tls else 25),
            "use_tls": self._implicit_tls,
            "start_tls": False,  # decided in `_connect`, once the relay's EHLO is known
            "tls_context": self._tls,
            "timeout": 15,
        }
        self._login = (unquote(url.username), unquote(url.password or "")) if url.username else None
        self.smtp = SmtpPool(self._connect, settings.notify_smtp_connections)
        self._writer = MailWriter(settings.mail_from)
        self.sms_batch_url = settings.sms_batch_url or settings.sms_url.rstrip("/") + "/batch"

    async def close(self) -> None:
        """Close the pooled SMTP connections."""
        await self.smtp.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        """A connected, encrypted-when-possible, logged-in SMTP client.

        STARTTLS whenever the relay offers it; with `smtp_require_tls`, a relay that does
        not gets nothing. Credentials never cross an unencrypted connection.
        """
        client = aiosmtplib.SMTP(**self._smtp)
        await client.connect()
        try:
            if not self._implicit_tls:
                await client.ehlo()
                if client.supports_extension("starttls"):
                    await client.starttls(tls_context=self._tls)
                elif self.settings.smtp_require_tls or self._login:
                    why = "TATAWWU_SMTP_REQUIRE_TLS is set" if self.settings.smtp_require_tls \
                        else "credentials are never sent in clear"  # fmt: skip
                    msg = f"the SMTP relay does not offer STARTTLS and {why}: nothing sent"
                    raise DeliveryError(msg, permanent=False)
            if self._login:
                await client.login(*self._login)
        except BaseException:
            client.close()
            raise
        return client

    async def email(
        self, notification_id: str, to: str, mail: Email, ready: Ready | None = None
    ) -> str:
        """Send one email over a pooled connection; the provider's id is our Message-ID."""
        message: EmailMessage | RawMail | None = self._writer.write(
            notification_id, to, mail.subject, mail.text, mail.html, mail.language
        )
        if message is None:  # an address the fast writer leaves to the email package
            message = _email_message(self.settings.mail_from, notification_id, to, mail)
        try:
            await self.smtp.send(message, ready)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise DeliveryError(
                f"recipient refused ({codes})", permanent=all(map(is_permanent_smtp, codes))
            ) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"SMTP {exc.code}: {exc.message}", permanent=is_permanent_smtp(exc.code)
            ) from exc
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        return f"<{notification_id}@tatawwu>"

    async def erase(self, channel: str, provider_id: str) -> str:
        """Ask the provider to delete what it keeps of one message: `erased` (also when it
        keeps nothing under that id), or `unsupported` (no API for it); raises
        `DeliveryError` to be asked again later."""
        base = self.settings.sms_url if channel == "sms" else self.settings.email_api_url
        if not base:
            return "unsupported"
        url = f"{base.rstrip('/')}/{quote(provider_id, safe='')}"
        try:
            response = await self.http.delete(url, headers=self._headers())
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        if response.status_code < 300 or response.status_code in (404, 410):
            return "erased"
        if response.status_code in (405, 501):
            return "unsupported"
        raise DeliveryError(f"HTTP {response.status_code}", permanent=False)

    def _headers(self) -> dict[str, str]:
        key = self.settings.sms_api_key.get_secret_value()
        return {"Authorization": f"Bearer {key}"} if key else {}

    async def sms(self, notification_id: str, to: str, text: str) -> str:
        """Send one SMS; returns the provider's message id."""
        headers = {"Idempotency-Key": notification_id, **self._headers()}
        body = {"to": to, "body": text, "sender": self.settings.sms_sender}
        try:
            response = await self.http.post(self.settings.sms_url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False) from exc
        if response.status_code >= 300:
            raise DeliveryError(
                f"HTTP {response.status_code}: {response.text[:200]}",
                permanent=is_permanent_http(response.status_code),
            )
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            return ""

    async def sms_batch(self, messages: Sequence[Sms]) -> list[str | DeliveryError]:
        """Send SMS in one request to the batch endpoint; per message, the provider's id or
        why it was not taken. A request that fails as a whole fails every message alike."""
        body = {"messages": [{"to": m.to, "body": m.text, "sender": self.settings.sms_sender,
                              "idempotency_key": m.notification_id} for m in messages]}  # fmt: skip
        try:
            response = await self.http.post(self.sms_batch_url, json=body, headers=self._headers())
        except httpx.HTTPError as exc:
            error = DeliveryError(f"{type(exc).__name__}: {exc}", permanent=False)
            return [error] * len(messages)
        if response.status_code >= 300:
            error = DeliveryError(f"HTTP {response.status_code}: {response.text[:200]}",
                                  permanent=is_permanent_http(response.status_code))  # fmt: skip
            return [error] * len(messages)
        try:
            results = {r["index"]: r for r in response.json()["results"]}
        except (ValueError, KeyError, TypeError):
            results = {}
        return [_result(results.get(n)) for n in range(len(messages))]


def _email_message(mail_from: str, notification_id: str, to: str, mail: Email) -> EmailMessage:
    """The email built by the email package (addresses `MailWriter` does not write)."""
    message = EmailMessage()
    name, sender = parseaddr(mail_from)
    message["From"] = formataddr((name, sender))
    message["To"] = to
    message["Subject"] = mail.subject
    message["Message-ID"] = f"<{notification_id}@tatawwu>"
    message["X-Idempotency-Key"] = notification_id
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    message["Content-Language"] = mail.language  # after the content: set_content drops it
    return message


def _result(result: dict[str, Any] | None) -> str | DeliveryError:
    """The provider's id for one message of a batch, or the error it answered."""
    if not isinstance(result, dict):
        return DeliveryError("the batch answer has no result for this message", permanent=False)
    code = result.get("code") if isinstance(result.get("code"), int) else 502
    if 200 <= code < 300:
        return str(result.get("id") or "")
    detail = result.get("detail") or result.get("errors") or result.get("status")
    return DeliveryError(f"HTTP {code}: {str(detail)[:200]}", permanent=is_permanent_http(code))
