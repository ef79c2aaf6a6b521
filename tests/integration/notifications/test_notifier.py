"""The notifier end to end: real Kafka, PostgreSQL, SMTP (aiosmtpd) and HTTP SMS sinks."""

from __future__ import annotations

import collections
import datetime as dt
from typing import Any

import pytest

from consumers.notifications import rules
from infra.db import connect
from infra.local.sinks import Sinks, read_sms, read_smtp
from infra.settings import Settings
from schemas.decode import decode_event
from tests.integration.notifications.conftest import notifier, settled
from tests.integration.notifications.world import (
    SOURCE,
    cancelled,
    hours_verified,
    opportunity,
    publish_events,
    registered,
    signed_up,
    withdrawn,
)
from tests.support.projectors import create_prefixed_topics, end_offsets
from tests.support.topics import read_from_start

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def outcome_events(settings: Settings, prefix: str, count: int) -> list[Any]:
    """The first `count` notification.* events on the prefixed notifications topic."""
    tps = list(await end_offsets(settings, [prefix + "tatawwu.notifications"]))
    records = await read_from_start(settings, tps, count, wait_s=30, poll_ms=2000)
    assert len(records) >= count, f"only {len(records)} of {count} outcome events arrived"
    return [decode_event(r.value) for r in records]


async def test_each_notification_goes_out_once_in_the_volunteers_language_with_consent(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Duplicates, replays and stale events send nothing extra; no consent means suppressed."""
    prefix, schema = f"ntf.{unique}.", f"ntf_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    events = [
        signed_up("v-1"),  # before its registration and its opportunity: order must not matter
        registered("v-1", language="ar"),
        registered("v-2", language="en", sms=False),
        opportunity(),
        signed_up("v-2"),
        signed_up("v-3"),  # never registered
        hours_verified("v-1"),
        registered("v-4", time=old),  # too old: nobody is told about the past
        signed_up("v-1"),  # the same event id again
    ]
    await publish_events(notifier_settings, prefix, events)
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            rows = await settled(conn, schema, expected=24, task=task, held_ok=True)
            await publish_events(notifier_settings, prefix, [signed_up("v-2")])  # replayed again
            rows = await settled(conn, schema, expected=24, task=task, held_ok=True)
    finally:
        await conn.close()

    outcome = {(r["volunteer_id"], r["template"], r["channel"]): r["status"] for r in rows}
    assert outcome == {
        ("v-1", "welcome", "email"): "sent", ("v-1", "welcome", "sms"): "sent",
        ("v-2", "welcome", "email"): "sent", ("v-2", "welcome", "sms"): "suppressed",
        ("v-1", "signup_confirmed", "email"): "sent", ("v-1", "signup_confirmed", "sms"): "sent",
        ("v-2", "signup_confirmed", "email"): "sent", ("v-2", "signup_confirmed", "sms"): "suppressed",
        # never registered: held, in case the registration comes later (up to 6 h)
        ("v-3", "signup_confirmed", "email"): "pending",
        ("v-3", "signup_confirmed", "sms"): "pending",
        ("v-1", "hours_thanks", "email"): "sent", ("v-1", "hours_thanks", "sms"): "sent",
        # the opportunity starts within 24 h: reminders are due at once
        ("v-1", "shift_reminder", "email"): "sent", ("v-1", "shift_reminder", "sms"): "sent",
        ("v-2", "shift_reminder", "email"): "sent", ("v-2", "shift_reminder", "sms"): "suppressed",
        ("v-3", "shift_reminder", "email"): "pending",
        ("v-3", "shift_reminder", "sms"): "pending",
        # the 2-hour reminders wait; attendance is asked at once (within 48 h)
        ("v-1", "shift_reminder_2h", "sms"): "pending", ("v-2", "shift_reminder_2h", "sms"): "pending",
        ("v-3", "shift_reminder_2h", "sms"): "pending",
        ("v-1", "attendance_confirmation", "sms"): "sent",
        ("v-2", "attendance_confirmation", "sms"): "suppressed",
        ("v-3", "attendance_confirmation", "sms"): "pending",
    }  # fmt: skip
    reasons = {(r["volunteer_id"], r["template"], r["channel"]): r["reason"] for r in rows}
    assert reasons[("v-2", "welcome", "sms")] == "no_consent"
    assert reasons[("v-3", "signup_confirmed", "email")] is None

    emails, texts = read_smtp(sinks.directory), read_sms(sinks.directory)
    sent = {r["notification_id"]: r for r in rows if r["status"] == "sent"}
    assert sorted(m["headers"]["x-idempotency-key"] for m in emails) == sorted(
        i for i, r in sent.items() if r["channel"] == "email"
    )
    assert sorted(t["idempotency_key"] for t in texts) == sorted(
        i for i, r in sent.items() if r["channel"] == "sms"
    )
    by_key = {m["headers"]["x-idempotency-key"]: m for m in emails}
    arabic = by_key[rules.notification_id(f"{SOURCE} su-v-1-opp-1", "signup_confirmed", "email")]
    assert arabic["rcpt_tos"] == ["v-1@example.org"]
    assert "تنظيف الشاطئ" in arabic["subject"]  # the opportunity's Arabic title
    assert arabic["headers"]["content-language"] == "ar"
    assert 'dir="rtl"' in arabic["html"]
    english = by_key[rules.notification_id(f"{SOURCE} su-v-2-opp-1", "signup_confirmed", "email")]
    assert "Beach clean-up" in english["subject"]
    assert english["text"].startswith("Dear Sara")
    reminder = by_key[rules.notification_id(f"{SOURCE} su-v-2-opp-1", "shift_reminder", "email")]
    assert reminder["subject"].startswith("Reminder: Beach clean-up")
    thanks = next(t for t in texts if "2.5" in t["body"])
    assert thanks["to"] == "+97450000001"

    final = [r for r in rows if r["status"] != "pending"]
    published = await outcome_events(notifier_settings, prefix, len(final))
    counts = collections.Counter(e.type for e in published)
    assert counts == {"notification.sent": 12, "notification.suppressed": 4}
    assert {e.data.notification_id for e in published} == {r["notification_id"] for r in final}


async def test_failures_retry_with_backoff_then_fail_for_good(
    notifier_settings: Settings, sinks: Sinks, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two 503s are retried and the SMS goes out; a provider that keeps failing gives failed."""
    monkeypatch.setattr(rules, "BACKOFF_BASE_S", 0.2)
    prefix, schema = f"ntfr.{unique}.", f"ntfr_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    sinks.sms_state.fail_remaining = 2
    sinks.sms_state.fail_status = 503
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            await publish_events(notifier_settings, prefix, [registered("v-1", language="en")])
            rows = await settled(conn, schema, expected=2, task=task)
            assert {r["channel"]: (r["status"], r["attempts"]) for r in rows} == {
                "email": ("sent", 1), "sms": ("sent", 3),
            }  # fmt: skip
            assert len(read_sms(sinks.directory)) == 1

            sinks.sms_state.fail_remaining = 100  # the provider is down for good
            await publish_events(notifier_settings, prefix, [registered("v-2", language="en")])
            rows = await settled(conn, schema, expected=4, task=task)
            failed = [r for r in rows if r["status"] == "failed"]
            assert [(r["volunteer_id"], r["channel"], r["attempts"]) for r in failed] == [
                ("v-2", "sms", 3)
            ]
            assert "503" in failed[0]["last_error"]

            sinks.sms_state.fail_remaining = 1
            sinks.sms_state.fail_status = 400  # a refusal retrying cannot fix: fails at once
            await publish_events(notifier_settings, prefix, [registered("v-3", language="en")])
            rows = await settled(conn, schema, expected=6, task=task)
            v3 = {
                r["channel"]: (r["status"], r["attempts"])
                for r in rows
                if r["volunteer_id"] == "v-3"
            }
            assert v3 == {"email": ("sent", 1), "sms": ("failed", 1)}
    finally:
        await conn.close()
    events = await outcome_events(notifier_settings, prefix, 6)
    failures = [e for e in events if e.type == "notification.failed"]
    assert sorted((e.data.volunteer_id, e.data.attempts) for e in failures) == [
        ("v-2", 3),
        ("v-3", 1),
    ]


async def test_a_reminder_waits_until_a_day_before_and_is_dropped_when_no_longer_wanted(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Held until 24 h before a start 3 days away; withdrawn, cancelled, begun: suppressed."""
    prefix, schema = f"ntfm.{unique}.", f"ntfm_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    events = [
        *(registered(v, language="en") for v in ("v-1", "v-2", "v-3", "v-4")),
        opportunity("opp-far", starts_in=dt.timedelta(days=3)),
        opportunity("opp-soon"),
        opportunity("opp-off"),
        cancelled("opp-off"),
        opportunity("opp-begun", starts_in=dt.timedelta(minutes=-30)),
        signed_up("v-1", "opp-far"),
        signed_up("v-2", "opp-soon"),
        withdrawn("v-2", "opp-soon"),
        signed_up("v-3", "opp-off"),
        signed_up("v-4", "opp-begun"),
    ]
    await publish_events(notifier_settings, prefix, events)
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            rows = await settled(conn, schema, expected=8 + 12 + 1 + 12, task=task, held_ok=True)
    finally:
        await conn.close()
    reminders = {
        (r["volunteer_id"], r["channel"]): r for r in rows if r["template"] == "shift_reminder"
    }
    far = reminders[("v-1", "sms")]
    starts = next(e for e in events if e.id == "pub-opp-far").data.starts_at
    assert far["status"] == "pending"
    assert far["next_attempt_at"] == starts - dt.timedelta(hours=24)
    assert far["attempts"] == 0  # waiting is not an attempt
    assert {(v, r["status"], r["reason"]) for (v, _), r in reminders.items() if v != "v-1"} == {
        ("v-2", "suppressed", "withdrawn"), ("v-3", "suppressed", "cancelled"),
        ("v-4", "suppressed", "too_late"),
    }  # fmt: skip
    assert not [m for m in read_smtp(sinks.directory) if m["subject"].startswith("Reminder")]


async def test_a_row_that_breaks_the_sender_fails_alone(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """A ledger row no template exists for (a bug) fails with its error; later ones go out."""
    prefix, schema = f"ntfb.{unique}.", f"ntfb_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            await publish_events(notifier_settings, prefix, [registered("v-1", language="en")])
            await settled(conn, schema, expected=2, task=task)  # v-1 is known now
            await conn.execute(
                f'insert into "{schema}".outbox (notification_id, cause_event_id, template,'
                " channel, volunteer_id, cause_time) values ('ntf-bug', 'e-bug', 'no_such_text',"
                " 'email', 'v-1', now())"
            )
            # Starting in five days: its reminders wait, the sign-up is confirmed now.
            later = opportunity(starts_in=dt.timedelta(days=5))
            await publish_events(notifier_settings, prefix, [later, signed_up("v-1")])
            rows = await settled(conn, schema, expected=9, task=task, held_ok=True)
            assert not task.done()
    finally:
        await conn.close()
    by_id = {r["notification_id"]: r for r in rows}
    bug = by_id.pop("ntf-bug")
    assert bug["status"] == "failed"
    assert "KeyError" in bug["last_error"]
    # (the reminders and the attendance confirmation wait: the shift is 5 days away)
    waiting = {"shift_reminder", "shift_reminder_2h", "attendance_confirmation"}
    assert {r["status"] for r in by_id.values() if r["template"] not in waiting} == {"sent"}
    assert len(read_smtp(sinks.directory)) == 2  # welcome, sign-up confirmed
