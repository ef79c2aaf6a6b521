"""The SMTP sink stores what a real SMTP client sends, Arabic included, exactly."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib
from structlog.testing import capture_logs

from infra.local.sink_files import SMTP_REPEATS_FILE, read_repeats
from infra.local.sinks import Sinks, SmtpSinkHandler, read_smtp

SUBJECT = "تأكيد تسجيلك في حملة تنظيف شاطئ الوكرة"
TEXT = "مرحباً عائشة،\nشكراً لتسجيلك. نراك يوم السبت الساعة ٧ صباحاً.\n"
HTML = '<p dir="rtl">مرحباً عائشة، شكراً لتسجيلك.</p>\n'


def arabic_email(to: list[str], message_id: str) -> EmailMessage:
    """A multipart text + html message, as the notifier sends it."""
    message = EmailMessage()
    message["From"] = "Tatawwu <no-reply@tatawwu.qa>"
    message["To"] = ", ".join(to)
    message["Subject"] = SUBJECT
    message["Message-ID"] = message_id
    message["X-Idempotency-Key"] = "notif-42"
    message.set_content(TEXT)
    message.add_alternative(HTML, subtype="html")
    message["Content-Language"] = "ar"  # after set_content, which resets Content-* headers
    return message


async def test_a_multipart_arabic_email_is_stored_exactly(sinks: Sinks) -> None:
    """Subject, text and html parts, Message-ID and envelope recipients round-trip unchanged."""
    to = ["aisha@example.org", "khalid@example.net"]
    message_id = make_msgid(domain="tatawwu.qa")
    await aiosmtplib.send(arabic_email(to, message_id), hostname=sinks.host, port=sinks.smtp_port)

    [stored] = read_smtp(sinks.directory)
    assert stored["mail_from"] == "no-reply@tatawwu.qa"
    assert stored["rcpt_tos"] == to
    assert stored["message_id"] == message_id
    assert stored["subject"] == SUBJECT
    assert stored["text"] == TEXT
    assert stored["html"] == HTML
    assert stored["headers"]["x-idempotency-key"] == "notif-42"
    assert stored["headers"]["content-language"] == "ar"
    assert stored["id"].startswith("eml-")
    assert stored["received_at"].endswith("+00:00")


async def test_an_internationalised_address_goes_through_smtputf8(sinks: Sinks) -> None:
    """A UTF-8 mailbox needs SMTPUTF8; the sink offers it and stores the address as sent."""
    message = EmailMessage()
    message["From"] = "no-reply@tatawwu.qa"
    message["To"] = "متطوع@example.org"
    message["Subject"] = "اختبار"
    message.set_content("نص قصير\n")
    await aiosmtplib.send(message, hostname=sinks.host, port=sinks.smtp_port)

    [stored] = read_smtp(sinks.directory)
    assert stored["rcpt_tos"] == ["متطوع@example.org"]
    assert stored["smtputf8"] is True
    assert stored["subject"] == "اختبار"
    assert stored["text"] == "نص قصير\n"
    assert stored["html"] is None


async def test_emails_are_appended_one_line_each_and_logs_carry_no_personal_data(
    sinks: Sinks,
) -> None:
    """Three messages, three lines in order; the log events name no address and no text."""
    with capture_logs() as logs:
        async with aiosmtplib.SMTP(hostname=sinks.host, port=sinks.smtp_port) as client:
            for n in range(3):
                await client.send_message(arabic_email(["aisha@example.org"], f"<m{n}@tatawwu.qa>"))

    assert [e["message_id"] for e in read_smtp(sinks.directory)] == [
        "<m0@tatawwu.qa>", "<m1@tatawwu.qa>", "<m2@tatawwu.qa>",
    ]  # fmt: skip
    assert [e["event"] for e in logs] == ["email_received"] * 3
    assert "aisha" not in repr(logs)
    assert "عائشة" not in repr(logs)


async def test_a_repeated_message_id_is_accepted_but_stored_once(sinks: Sinks) -> None:
    """A repeat (a sender that lost its lease, or was killed) is a 250 and one repeats line;
    a restarted sink still knows the Message-IDs it stored."""
    async with aiosmtplib.SMTP(hostname=sinks.host, port=sinks.smtp_port) as client:
        for message_id in ("<a@tatawwu.qa>", "<b@tatawwu.qa>", "<a@tatawwu.qa>"):
            _, reply = await client.send_message(arabic_email(["x@example.org"], message_id))
    assert "Duplicate" in reply
    assert [e["message_id"] for e in read_smtp(sinks.directory)] == [
        "<a@tatawwu.qa>",
        "<b@tatawwu.qa>",
    ]
    assert sinks.smtp_handler.duplicates == 1
    repeats = read_repeats(sinks.directory, SMTP_REPEATS_FILE)
    assert [r["message_id"] for r in repeats] == ["<a@tatawwu.qa>"]
    assert SmtpSinkHandler(sinks.directory).message_ids == {"<a@tatawwu.qa>", "<b@tatawwu.qa>"}
