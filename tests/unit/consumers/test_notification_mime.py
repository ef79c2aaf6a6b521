"""The notifier's emails written as bytes (`mime.py`) read back as the email package built them."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from consumers.notifications.mime import MailWriter, header
from consumers.notifications.providers import _email_message
from consumers.notifications.templates import TEXTS, Email, render_email

KEPT = ("from", "to", "message-id", "x-idempotency-key", "content-language", "mime-version")
FROM = "Tatawwu <no-reply@tatawwu.example>"
NAMES = ["مريم", "Sara", "x" * 40, "عبدالرحمن بن محمد آل ثاني الطويل", "Zoë 😀", "a\u200fb"]
VARIABLES = {"opportunity": "تنظيف شاطئ الوكرة الكبير " * 3, "starts_at": "2026-12-01 08:00",
             "hours": "3", "count": "2", "changes": "time"}  # fmt: skip


def read(raw: bytes) -> dict[str, object]:
    """What the SMTP sink keeps of a message (subject, parts, headers), and any defect."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    parts = {}
    for subtype in ("plain", "html"):
        part = message.get_body(preferencelist=(subtype,))
        assert part is not None
        parts[subtype] = part.get_content()
    return {
        "subject": str(message["subject"]),
        "parts": parts,
        "headers": {h: str(message[h]) for h in KEPT},
        "defects": [d for p in message.walk() for d in p.defects],
    }


def emails() -> list[Email]:
    rendered = []
    for template in TEXTS:
        for language in ("ar", "en"):
            for name in NAMES:
                rendered.append(render_email(template, language, {"name": name, **VARIABLES}))
    return rendered


@pytest.mark.parametrize("mail", emails(), ids=lambda m: m.subject[:20])
def test_written_email_reads_as_the_email_package_built_it(mail: Email) -> None:
    raw = MailWriter(FROM).write("ntf-abc.1", "v-1@example.org", mail.subject, mail.text,
                                 mail.html, mail.language)  # fmt: skip
    assert raw is not None
    assert raw.sender == "no-reply@tatawwu.example"
    assert raw.recipients == ("v-1@example.org",)
    assert max(len(line) for line in raw.data.split(b"\r\n")) <= 78
    assert raw.data.isascii()  # 7-bit clean: base64 parts, encoded-word subject
    ours = read(raw.data)
    theirs = read(_email_message(FROM, "ntf-abc.1", "v-1@example.org", mail).as_bytes())
    # The subject is the rendered one exactly; the email package's folding drops a space
    # between two Arabic words now and then, so its subject is not the reference.
    assert ours.pop("subject") == mail.subject
    theirs.pop("subject")
    assert ours == theirs
    assert ours["defects"] == []


def test_a_value_shaped_like_an_encoded_word_stays_literal() -> None:
    line = header("Subject", "hello =?utf-8?q?evil?=")
    message = email.message_from_bytes(line.encode() + b"\r\n\r\n", policy=email.policy.default)
    assert str(message["subject"]) == "hello =?utf-8?q?evil?="


def test_a_header_is_one_line_whatever_the_value_holds() -> None:
    assert header("Subject", "a\r\nBcc: x@evil.example") == "Subject: a Bcc: x@evil.example"


@pytest.mark.parametrize("to", ["مريم@example.org", "a b@example.org", "a@b@example.org",
                                "<a@example.org>", "a@example.org\r\nBcc: b@example.org"])  # fmt: skip
def test_an_address_it_does_not_write_is_left_to_the_email_package(to: str) -> None:
    assert MailWriter(FROM).write("ntf-1", to, "s", "t", "<p>t</p>", "en") is None
