"""The local SMTP sink (aiosmtpd): accept every message, keep one JSON line for each.

A message whose Message-ID it already stored (also before a restart) is a repeat: it is
accepted (250, as a relay deduplicating by Message-ID does) but not stored again, and
counted as one line of `smtp-repeats.jsonl`. `delay_s` makes it a slow relay (the answer
to DATA comes that much later, after the message is stored).

Logs carry ids and counts only, never addresses or message text.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import uuid
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import structlog
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from infra.local.sink_files import (
    SMTP_FILE,
    SMTP_REPEATS_FILE,
    append_record,
    now_iso,
    read_smtp,
)
from infra.local.sink_webhooks import WebhookSender

log = structlog.get_logger("infra.local.sinks")

# Headers worth asserting on; everything else stays in the raw message we do not keep.
KEPT_HEADERS = ("from", "to", "cc", "reply-to", "date", "content-language",
                "x-idempotency-key", "x-correlation-id", "auto-submitted", "list-unsubscribe")  # fmt: skip


class _HeaderClasses(HeaderRegistry):
    """The email package's header registry, making each header's class once: it makes a
    new class every time a header is read otherwise, most of the sink's parsing time."""

    def __init__(self) -> None:
        super().__init__()
        self._made: dict[str, type[BaseHeader]] = {}

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._made.get(key)
        if made is None:
            made = self._made[key] = super().__getitem__(name)
        return made


POLICY = email.policy.default.clone(header_factory=_HeaderClasses())


def _part_text(message: EmailMessage, subtype: str) -> str | None:
    part = message.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    content = part.get_content()
    return content.replace("\r\n", "\n") if isinstance(content, str) else None


def _header(message: EmailMessage, name: str) -> str | None:
    value = message[name]  # policy.default decodes RFC 2047 words
    return None if value is None else str(value)


def email_record(envelope: Envelope) -> dict[str, Any]:
    """The JSON line stored for one received message (headers and parts decoded)."""
    raw = envelope.original_content or envelope.content or b""
    raw = raw if isinstance(raw, bytes) else raw.encode()
    message = email.message_from_bytes(raw, policy=POLICY)
    assert isinstance(message, EmailMessage)  # policy.default's clone builds EmailMessage
    record: dict[str, Any] = {
        "received_at": now_iso(),
        "id": f"eml-{uuid.uuid4().hex}",
        "mail_from": envelope.mail_from,
        "rcpt_tos": list(envelope.rcpt_tos),
        "message_id": None,
        "subject": None,
        "text": None,
        "html": None,
        "headers": {},
        "smtputf8": bool(envelope.smtp_utf8),
        "size": len(raw),
    }
    try:
        record["message_id"] = _header(message, "message-id")
        record["subject"] = _header(message, "subject")
        record["headers"] = {h: str(message[h]) for h in KEPT_HEADERS if message[h] is not None}
        record["text"] = _part_text(message, "plain")
        record["html"] = _part_text(message, "html")
    except (LookupError, ValueError, UnicodeError) as exc:  # keep the message, say why
        record["parse_error"] = f"{type(exc).__name__}: {exc}"
    return record


def is_tls(server: SMTP, session: Session) -> bool:
    """Whether this session is encrypted: upgraded by STARTTLS, or implicit TLS."""
    transport = server.transport
    implicit = transport is not None and transport.get_extra_info("ssl_object") is not None
    return session.ssl is not None or implicit


class Credentials:
    """An aiosmtpd authenticator taking one login; each attempt is kept with whether it
    came over TLS, so a test can tell a client that sent its password in clear."""

    def __init__(self, login: str, password: str) -> None:
        self.login, self.password = login, password
        self.attempts: list[dict[str, Any]] = []

    def __call__(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                 auth_data: Any) -> AuthResult:  # fmt: skip
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (self.login, self.password)
        self.attempts.append({"mechanism": mechanism, "tls": is_tls(server, session), "ok": ok})
        log.info("smtp_auth", mechanism=mechanism, tls=is_tls(server, session), ok=ok)
        return AuthResult(success=ok)


class SmtpSinkHandler:
    """aiosmtpd handler: store each new message as one line of `smtp.jsonl`, drop repeats."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / SMTP_FILE
        self.repeats_path = Path(directory) / SMTP_REPEATS_FILE
        self.received = 0
        self.duplicates = 0
        self.delay_s = 0.0
        self.webhooks: WebhookSender | None = None  # delivery/bounce/complaint callbacks
        self.message_ids = {m["message_id"] for m in read_smtp(directory) if m.get("message_id")}

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message (or count its repeat) and answer 250."""
        record = email_record(envelope)
        record["tls"] = is_tls(server, session)
        message_id = record["message_id"]
        if message_id and message_id in self.message_ids:
            self.duplicates += 1
            append_record(self.repeats_path, {"received_at": record["received_at"],
                                              "message_id": message_id})  # fmt: skip
            log.info("email_duplicate", size=record["size"])
            return "250 Duplicate Message-ID, already accepted"
        if message_id:
            self.message_ids.add(message_id)
        append_record(self.path, record)
        self.received += 1
        log.info("email_received", id=record["id"], recipients=len(record["rcpt_tos"]),
                 size=record["size"], parse_error="parse_error" in record)  # fmt: skip
        if self.webhooks is not None:
            self.webhooks.email_stored(message_id, record["rcpt_tos"])
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        return "250 Message accepted for delivery"
