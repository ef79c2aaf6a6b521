"""Opportunity alerts end to end (real Kafka, PostgreSQL and SMS sink): consent, matching,
one a day with the rest in the next day's digest, quiet hours, facts arriving late."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from consumers.notifications.alerts import alert_slot
from consumers.notifications.rules import QuietHours
from infra.db import connect
from infra.local.sinks import Sinks, read_sms
from infra.settings import Settings
from tests.integration.notifications.conftest import notifier, settled
from tests.integration.notifications.world import publish_events
from tests.integration.notifications.world_messages import (
    _event,
    published,
    volunteer,
    wait_rows,
)
from tests.support.projectors import create_prefixed_topics

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ALERTS = "select * from \"{}\".outbox where template = 'opportunity_alert' order by volunteer_id"
DOHA = ZoneInfo("Asia/Qatar")
FINAL = ("sent", "suppressed", "failed")


async def test_alerts_honour_consent_and_matching_and_go_once_a_day_with_a_digest_next_day(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """a-1 matches and gets one alert; the next two opportunities wait in one digest for the
    next day; opted out, another municipality, too young: nothing; no SMS consent: suppressed."""
    prefix, schema = f"nma.{unique}.", f"nma_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    people = [
        volunteer("a-1", alerts=True),
        volunteer("a-2"),  # never opted in
        volunteer("a-3", alerts=True, municipality="al_khor"),
        volunteer("a-4", alerts=True, birth_year=dt.date.today().year - 12),  # min_age 16
        volunteer("a-5", alerts=True, sms=False),
    ]
    await publish_events(notifier_settings, prefix, people)
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            await settled(conn, schema, expected=10, task=task)  # the welcomes
            await publish_events(notifier_settings, prefix, [published("opp-1")])
            first = await wait_rows(
                conn, ALERTS.format(schema), task=task,
                check=lambda rows: len(rows) == 2 and all(r["status"] in FINAL for r in rows),
            )  # fmt: skip
            await publish_events(
                notifier_settings, prefix,
                [published("opp-2", title_en="Park planting"), published("opp-3")],
            )  # fmt: skip
            rows = await wait_rows(
                conn, ALERTS.format(schema), task=task,
                check=lambda rows: len(rows) == 4 and all(r["context"]["count"] == 2
                                                          for r in rows if r["context"].get("digest")),
            )  # fmt: skip
            digests = [r for r in rows if r["context"].get("digest")]
            # The next day comes: the digests are due (their local midnight, held by quiet
            # hours in production; the tests run without quiet hours).
            await conn.execute(
                f'update "{schema}".outbox set next_attempt_at = now()'
                " where notification_id = any($1::text[])",
                [r["notification_id"] for r in digests],
            )  # fmt: skip
            rows = await wait_rows(
                conn, ALERTS.format(schema), task=task,
                check=lambda rows: all(r["status"] in FINAL for r in rows),
            )  # fmt: skip
            days = await conn.fetch(
                f'select volunteer_id, day, opportunity_ids from "{schema}".alert_days'
                " order by volunteer_id, day"
            )
    finally:
        await conn.close()
    assert {(r["volunteer_id"], r["status"], r["reason"]) for r in first} == {
        ("a-1", "sent", None), ("a-5", "suppressed", "no_consent"),
    }  # fmt: skip
    assert [(r["volunteer_id"], r["status"]) for r in rows] == [
        ("a-1", "sent"), ("a-1", "sent"), ("a-5", "suppressed"), ("a-5", "suppressed"),
    ]  # fmt: skip
    today = alert_slot(dt.datetime.now(dt.UTC), None, DOHA).day
    assert [(r["volunteer_id"], r["day"], r["opportunity_ids"]) for r in days] == [
        ("a-1", today, ["opp-1"]), ("a-1", today + dt.timedelta(days=1), ["opp-2", "opp-3"]),
        ("a-5", today, ["opp-1"]), ("a-5", today + dt.timedelta(days=1), ["opp-2", "opp-3"]),
    ]  # fmt: skip
    tomorrow = dt.datetime.combine(today + dt.timedelta(days=1), dt.time(0), tzinfo=DOHA)
    assert {d["next_attempt_at"] for d in digests} == {tomorrow}
    texts = [t for t in read_sms(sinks.directory) if "near you" in t["body"]]
    assert [t["to"] for t in texts] == ["+97460000001", "+97460000001"]
    assert "new opportunity near you: Beach clean-up" in texts[0]["body"]
    assert "2 new opportunities near you, among them Park planting" in texts[1]["body"]


async def test_an_alert_published_in_quiet_hours_waits_for_them_to_end_and_counts_for_that_day(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Quiet hours around now (Doha time): the alert is held until they end, as that day's."""
    prefix, schema = f"nmq.{unique}.", f"nmq_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    local = dt.datetime.now(DOHA)
    window = f"{(local - dt.timedelta(hours=1)):%H:%M}-{(local + dt.timedelta(hours=2)):%H:%M}"
    settings = notifier_settings.model_copy(update={"notify_quiet_hours": window})
    quiet = QuietHours.parse(window, "Asia/Qatar")
    assert quiet is not None
    end = quiet.release_time(dt.datetime.now(dt.UTC))
    assert end is not None
    await publish_events(settings, prefix, [volunteer("a-1", alerts=True)])
    conn = await connect(settings)
    try:
        async with notifier(settings, prefix, schema) as task:
            # The volunteer known first: published together, the two topics' records may
            # be applied in either order, and an opportunity published before a volunteer
            # was known alerts nobody (seen in CI).
            await wait_rows(conn, f'select * from "{schema}".contacts', task=task,
                            check=lambda rows: len(rows) == 1)  # fmt: skip
            await publish_events(settings, prefix, [published("opp-1")])
            rows = await wait_rows(
                conn, ALERTS.format(schema), task=task,
                check=lambda rows: len(rows) == 1 and rows[0]["next_attempt_at"] >= end,
            )  # fmt: skip
            day = await conn.fetchval(f'select day from "{schema}".alert_days')
    finally:
        await conn.close()
    assert rows[0]["status"] == "pending"
    assert abs(rows[0]["next_attempt_at"] - end) < dt.timedelta(minutes=2)
    assert day == end.astimezone(DOHA).date()
    assert not [t for t in read_sms(sinks.directory) if "near you" in t["body"]]


async def test_volunteers_known_after_a_publication_they_precede_are_alerted_when_they_arrive(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """The publication applied first, the volunteers' facts after it (their topic lagging):
    a registration with alerts on timed before the publication is alerted when it arrives,
    and so is a consent to alerts given before the publication; a registration or a
    consent timed after the publication is not (as if the facts had come in time order)."""
    prefix, schema = f"nml.{unique}.", f"nml_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    now = dt.datetime.now(dt.UTC)
    at = {m: now - dt.timedelta(minutes=m) for m in (1, 5, 7, 10)}
    publication = published("opp-1").model_copy(update={"time": at[5]})

    def consent(volunteer_id: str, time: dt.datetime) -> object:
        return _event(
            "volunteer.consent_changed", f"con-{volunteer_id}", time, volunteer_id=volunteer_id,
            consent={"sms": True, "email": True, "alerts": True},
        )  # fmt: skip

    late = [
        volunteer("a-1", alerts=True).model_copy(update={"time": at[10]}),
        volunteer("a-2", alerts=True).model_copy(update={"time": at[1]}),  # after it
        volunteer("a-3").model_copy(update={"time": at[10]}),
        consent("a-3", at[7]),  # on before the publication
        volunteer("a-4").model_copy(update={"time": at[10]}),
        consent("a-4", at[1]),  # on after it
    ]
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            await publish_events(notifier_settings, prefix, [publication])
            await wait_rows(
                conn, f'select * from "{schema}".alerted_opportunities', task=task,
                check=lambda rows: len(rows) == 1,
            )  # fmt: skip
            await publish_events(notifier_settings, prefix, late)
            await wait_rows(
                conn, f'select * from "{schema}".contacts where (consent ->> \'alerts\') = \'true\'',
                task=task, check=lambda rows: len(rows) == 4,
            )  # fmt: skip
            rows = await wait_rows(
                conn, ALERTS.format(schema), task=task,
                check=lambda rows: len(rows) == 2 and all(r["status"] in FINAL for r in rows),
            )  # fmt: skip
            counted = await conn.fetchval(
                f'select volunteers from "{schema}".alerted_opportunities'
            )
    finally:
        await conn.close()
    assert [(r["volunteer_id"], r["status"]) for r in rows] == [("a-1", "sent"), ("a-3", "sent")]
    assert counted == 2
    texts = [t for t in read_sms(sinks.directory) if "near you" in t["body"]]
    assert sorted(t["to"] for t in texts) == ["+97460000001", "+97460000003"]
