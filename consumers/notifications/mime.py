"""An email as the bytes SMTP carries, built directly: the `email` package costs milliseconds.

Building an `EmailMessage` (`set_content`, `add_alternative`) and flattening it took most
of the notifier's CPU per email (its header registry makes a class for every header, its
folding parses every value). The notifier's emails always have one shape, so they are
written here as text: the same headers as before (`From`, `To`, `Subject`, `Message-ID`,
`X-Idempotency-Key`, `MIME-Version`, `Content-Type`, `Content-Language`), a
`multipart/alternative` of a plain-text and an HTML part, both UTF-8 in base64 (7-bit
clean: no relay needs `8BITMIME`). A non-ASCII or long subject becomes RFC 2047 encoded
words of whole characters, folded to lines under 78 characters. What does not fit this
shape (an address that is not plain ASCII, which needs `SMTPUTF8`) returns None, and the
caller builds an `EmailMessage` as before.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from email.utils import formataddr, parseaddr

# A plain ASCII address: no spaces, brackets, quotes or line breaks (anything else is left
# to the email package, which quotes and encodes it).
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@-]+")
_WORD_BYTES = 39  # 52 base64 characters: "Subject: =?utf-8?b?...?=" stays under 78


@dataclass(frozen=True)
class RawMail:
    """An email ready for SMTP: the envelope sender, the recipients and the message bytes."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes


def header(name: str, value: str) -> str:
    """`Name: value` on one or more lines, as RFC 2047 encoded words when not plain ASCII."""
    value = " ".join(value.split())  # one line whatever the value holds
    if value.isascii() and "=?" not in value and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}"
    words: list[str] = []
    chunk, size = "", 0
    for char in value:
        length = len(char.encode())
        if size + length > _WORD_BYTES and chunk:
            words.append(chunk)
            chunk, size = "", 0
        chunk, size = chunk + char, size + length
    words.append(chunk)
    encoded = ("=?utf-8?b?" + base64.b64encode(w.encode()).decode() + "?=" for w in words)
    return f"{name}: " + "\r\n ".join(encoded)


def _part(content_type: str, text: str) -> str:
    if not text.endswith("\n"):
        text += "\n"
    body = base64.encodebytes(text.encode()).decode().replace("\n", "\r\n")
    return (f'Content-Type: {content_type}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n{body}")  # fmt: skip


class MailWriter:
    """Writes the notifier's emails from one sender (`MAIL_FROM`)."""

    def __init__(self, mail_from: str) -> None:
        name, self.sender = parseaddr(mail_from)
        self.plain = bool(_PLAIN_ADDRESS.fullmatch(self.sender))
        self.from_header = header("From", formataddr((name, self.sender))) if self.plain else ""

    def write(self, notification_id: str, to: str, subject: str, text: str, html: str,
              language: str) -> RawMail | None:  # fmt: skip
        """The message's bytes, or None when it needs the email package (see the module)."""
        if not (self.plain and _PLAIN_ADDRESS.fullmatch(to) and to.count("@") == 1):
            return None
        if not _PLAIN_ADDRESS.fullmatch(notification_id):
            return None
        boundary = "===============" + secrets.token_hex(12) + "=="
        lines = (
            self.from_header,
            f"To: {to}",
            header("Subject", subject),
            f"Message-ID: <{notification_id}@tatawwu>",
            f"X-Idempotency-Key: {notification_id}",
            "MIME-Version: 1.0",
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"',
            f"Content-Language: {language}",
            "",
            f"--{boundary}",
            _part("text/plain", text),
            f"--{boundary}",
            _part("text/html", html),
            f"--{boundary}--",
            "",
        )
        return RawMail(self.sender, (to,), "\r\n".join(lines).encode())
