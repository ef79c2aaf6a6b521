"""The notifier's pure rules: triggers, ids, age, consent, quiet hours, backoff, texts."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest

from consumers.notifications import ledger_rows
from consumers.notifications.outcomes import one_line, outcome_event
from consumers.notifications.rules import (
    Claimed,
    QuietHours,
    backoff_s,
    decide,
    is_permanent_http,
    is_permanent_smtp,
    notification_id,
)
from consumers.notifications.templates import TEXTS, render_email, render_sms
from schemas.decode import decode_event, encode_event
from schemas.notifications import SuppressionReason
from tests.support.events import decoded

NOW = dt.datetime(2026, 11, 29, 10, 0, tzinfo=dt.UTC)  # 13:00 in Doha
PAIR = {"volunteer_id": "v-1", "opportunity_id": "o-1", "campaign_id": "c-1"}
SOURCE = "partner/org-1"
CONTACT = {"status": "registered", "given_name": "Mariam", "email": "m@example.org",
           "phone": "+97455501234", "language": "ar", "consent": {"sms": True, "email": True}}  # fmt: skip


def claimed(channel: str = "sms", template: str = "signup_confirmed") -> Claimed:
    return Claimed("ntf-1", "e-1", template, channel, "v-1", {"opportunity_id": "o-1"}, 1, NOW)


def test_each_trigger_gives_one_row_per_channel_with_a_stable_id() -> None:
    signup = decoded("volunteer.signed_up", "e-1", NOW, source=SOURCE, **PAIR)
    withdrawn = decoded("volunteer.signup_withdrawn", "e-2", NOW, source=SOURCE, **PAIR)
    hours = decoded(
        "volunteer.hours_verified",
        "e-3",
        NOW,
        source=SOURCE,
        **PAIR,
        hours=2.5,
        verified_by="org-1",
    )
    checkin = decoded(
        "volunteer.checked_in", "e-4", NOW, source=SOURCE, **PAIR, at=NOW.isoformat(), method="qr"
    )
    rows = ledger_rows([signup, withdrawn, hours, checkin], NOW, 48)
    assert [(r[1], r[2], r[3]) for r in rows] == [
        ("e-1", "signup_confirmed", "email"), ("e-1", "signup_confirmed", "sms"),
        ("e-1", "shift_reminder", "sms"), ("e-1", "shift_reminder", "email"),
        ("e-1", "shift_reminder_2h", "sms"), ("e-1", "attendance_confirmation", "sms"),
        ("e-2", "signup_withdrawn", "email"),
        ("e-3", "hours_thanks", "email"), ("e-3", "hours_thanks", "sms"),
    ]  # fmt: skip
    # Keyed by the cause's identity: its source and its id.
    assert rows[0][0] == notification_id("partner/org-1 e-1", "signup_confirmed", "email")
    assert rows[0][0] != rows[1][0]
    assert rows[7][6] == {"opportunity_id": "o-1", "hours": "2.5"}
    assert ledger_rows([signup, signup], NOW, 48)[0][0] == ledger_rows([signup], NOW, 48)[0][0]


def test_events_older_than_the_age_limit_notify_nobody() -> None:
    old = decoded("volunteer.signed_up", "e-1", NOW - dt.timedelta(hours=49), source=SOURCE, **PAIR)
    recent = decoded(
        "volunteer.signed_up", "e-2", NOW - dt.timedelta(hours=47), source=SOURCE, **PAIR
    )
    assert {r[1] for r in ledger_rows([old, recent], NOW, 48)} == {"e-2"}


def test_a_message_for_a_volunteer_not_yet_registered_waits_then_gives_up() -> None:
    """The sign-up may come before the registration (another topic): wait up to 6 h."""
    assert decide(claimed("sms"), None, NOW, None).until == NOW + dt.timedelta(minutes=1)
    unregistered = {**CONTACT, "status": "unregistered"}
    assert decide(claimed("email"), unregistered, NOW, None).until is not None
    later = NOW + dt.timedelta(hours=6, minutes=1)
    assert decide(claimed("sms"), None, later, None).suppress == SuppressionReason.UNKNOWN_VOLUNTEER


@pytest.mark.parametrize(
    ("contact", "channel", "reason"),
    [
        ({**CONTACT, "consent": {"sms": False, "email": True}}, "sms", SuppressionReason.NO_CONSENT),
        ({**CONTACT, "consent": {"sms": True, "email": False}}, "email", SuppressionReason.NO_CONSENT),
        ({**CONTACT, "email": None}, "email", SuppressionReason.NO_CONTACT),
    ],
)  # fmt: skip
def test_consent_and_contact_are_checked_at_send_time(
    contact: dict[str, Any] | None, channel: str, reason: SuppressionReason
) -> None:
    assert decide(claimed(channel), contact, NOW, None).suppress == reason


def test_quiet_hours_hold_sms_until_they_end_but_not_email() -> None:
    quiet = QuietHours.parse("21:00-08:00", "Asia/Qatar")
    late = dt.datetime(2026, 11, 29, 20, 30, tzinfo=dt.UTC)  # 23:30 in Doha
    held = decide(claimed("sms"), CONTACT, late, quiet)
    assert held.until == dt.datetime(2026, 11, 30, 5, 0, tzinfo=dt.UTC)  # 08:00 in Doha
    assert decide(claimed("email"), CONTACT, late, quiet).address == "m@example.org"
    early = dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)  # 05:00 in Doha, same release
    assert decide(claimed("sms"), CONTACT, early, quiet).until == held.until
    assert decide(claimed("sms"), CONTACT, NOW, quiet).address == "+97455501234"
    assert QuietHours.parse("", "Asia/Qatar") is None
    with pytest.raises(ValueError, match="21:00-08:00"):
        QuietHours.parse("9pm to 8am", "Asia/Qatar")


def test_backoff_doubles_with_jitter_up_to_a_cap() -> None:
    rng = random.Random(1)
    waits = [backoff_s(n, rng) for n in range(1, 12)]
    assert 4 <= waits[0] <= 6
    assert 8 <= waits[1] <= 12
    assert 16 <= waits[2] <= 24
    assert max(waits) <= 600 * 1.2
    assert is_permanent_http(400)
    assert is_permanent_http(422)
    assert not any(map(is_permanent_http, (408, 429, 500, 503)))
    assert is_permanent_smtp(550)
    assert not is_permanent_smtp(451)


@pytest.mark.parametrize("template", sorted(TEXTS))
@pytest.mark.parametrize("language", ["ar", "en"])
def test_every_text_renders_in_both_languages(template: str, language: str) -> None:
    variables = {
        "name": "Mariam <b>",
        "opportunity": "Beach clean-up",
        "starts_at": "",
        "hours": "2.5",
        "changes": "new place Doha",  # every template gets these (variables.py)
        "count": "1",
    }
    mail = render_email(template, language, variables)
    assert mail.subject
    assert mail.text
    assert render_sms(template, language, variables)
    assert ('dir="rtl"' in mail.html) == (language == "ar")
    assert "Mariam &lt;b&gt;" in mail.html or "Mariam" not in mail.text  # escaped in HTML
    assert "{{" not in mail.text


def test_a_missing_variable_is_an_error_not_a_blank() -> None:
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render_sms("welcome", "en", {})


def test_outcome_events_carry_ids_only_and_decode() -> None:
    row = {"notification_id": "ntf-1", "volunteer_id": "v-1", "template": "welcome",
           "channel": "sms", "cause_event_id": "e-1", "status": "failed", "reason": None,
           "last_error": "HTTP 503:\n call +97455501234 or m@example.org", "attempts": 5,
           "finished_at": NOW}  # fmt: skip
    event = outcome_event(row)
    assert event.id == "ntf-1.failed"
    assert event.type == "notification.failed"
    assert "+974" not in event.data.error
    assert "@" not in event.data.error
    assert decode_event(encode_event(event)) == event
    assert one_line("a\nb  c") == "a b c"


def test_a_reminder_waits_for_24_hours_before_the_start_and_checks_the_sign_up_then() -> None:
    reminder = Claimed(
        "ntf-1", "e-1", "shift_reminder", "sms", "v-1", {"opportunity_id": "o-1"}, 1, NOW
    )
    starts = NOW + dt.timedelta(days=3)
    published = {"starts_at": starts, "status": "published"}
    assert decide(
        reminder, CONTACT, NOW, None, published, "signed_up"
    ).until == starts - dt.timedelta(hours=24)
    soon = {"starts_at": NOW + dt.timedelta(hours=5), "status": "published"}
    assert decide(reminder, CONTACT, NOW, None, soon, "signed_up").address == "+97455501234"
    assert (
        decide(reminder, CONTACT, NOW, None, soon, "withdrawn").suppress
        == SuppressionReason.WITHDRAWN
    )
    cancelled = {**soon, "status": "cancelled"}
    assert (
        decide(reminder, CONTACT, NOW, None, cancelled, "signed_up").suppress
        == SuppressionReason.CANCELLED
    )
    begun = {"starts_at": NOW - dt.timedelta(minutes=1), "status": "published"}
    assert (
        decide(reminder, CONTACT, NOW, None, begun, "signed_up").suppress
        == SuppressionReason.TOO_LATE
    )
    # Not published yet: look again in a minute, give up 6 hours after the sign-up.
    assert decide(reminder, CONTACT, NOW, None, None, "signed_up").until == NOW + dt.timedelta(
        minutes=1
    )
    later = NOW + dt.timedelta(hours=7)
    assert (
        decide(reminder, CONTACT, later, None, None, "signed_up").suppress
        == SuppressionReason.UNKNOWN_OPPORTUNITY
    )
    # Consent is checked when the reminder is actually due, not when it was queued.
    no_sms = {**CONTACT, "consent": {"sms": False, "email": True}}
    assert decide(reminder, no_sms, NOW, None, published, "signed_up").until is not None
    assert (
        decide(reminder, no_sms, NOW, None, soon, "signed_up").suppress
        == SuppressionReason.NO_CONSENT
    )


async def test_the_sms_key_is_sent_as_a_bearer_token_and_kept_out_of_settings_repr() -> None:
    import httpx

    from consumers.notifications.providers import Providers
    from infra.settings import Settings

    seen: list[httpx.Request] = []

    def provider(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "sms-1"})

    settings = Settings(sms_api_key="s3cret", sms_url="http://sms.test/v1/messages")
    assert "s3cret" not in repr(settings)
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as http:
        assert await Providers(settings, http).sms("ntf-1", "+97455501234", "hi") == "sms-1"
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert seen[0].headers["idempotency-key"] == "ntf-1"
