"""The providers the notifier hands messages to: real SMTP (aiosmtplib) and an SMS HTTP API.

Each send carries the notification id as its idempotency key (SMTP `Message-ID` and
`X-Idempotency-Key`, SMS `Idempotency-Key`), so a repeat after a lost lease is dropped.
SMTP is encrypted whenever the relay allows: `smtps://` is implicit TLS, `smtp://`
upgrades with STARTTLS when offered (required with `TATAWWU_SMTP_REQUIRE_TLS`, and
whenever the URL carries credentials); the relay's certificate is checked against the
system's CAs or `TATAWWU_SMTP_CA_FILE`.
"""

from __future__ import annotations

import contextlib
import ssl
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib
import httpx

from consumers.notifications.rules import is_permanent_http, is_permanent_smtp
from consumers.notifications.templates import Email
from infra.settings import Settings


class DeliveryError(Exception):
    """The provider did not take the message; `permanent` when retrying cannot help."""

    def __init__(self, detail: str, *, permanent: bool) -> None:
        super().__init__(detail)
        self.permanent = permanent


class Providers:
    """Real SMTP (aiosmtplib) and the SMS provider's HTTP API."""

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

    async def email(self, notification_id: str, to: str, mail: Email) -> str:
        """Send one email; the provider's id is our Message-ID."""
        message = EmailMessage()
        name, sender = parseaddr(self.settings.mail_from)
        message["From"] = formataddr((name, sender))
        message["To"] = to
        message["Subject"] = mail.subject
        message["Message-ID"] = f"<{notification_id}@tatawwu>"
        message["X-Idempotency-Key"] = notification_id
        message.set_content(mail.text)
        message.add_alternative(mail.html, subtype="html")
        message["Content-Language"] = mail.language  # after the content: set_content drops it
        try:
            client = await self._connect()
            try:
                await client.send_message(message)
            finally:
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.quit()
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
        return message["Message-ID"]

    async def sms(self, notification_id: str, to: str, text: str) -> str:
        """Send one SMS; returns the provider's message id."""
        headers = {"Idempotency-Key": notification_id}
        if key := self.settings.sms_api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {key}"
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
