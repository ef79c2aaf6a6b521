"""The new messages end to end (real Kafka, PostgreSQL, SMTP and SMS sinks): 2 h reminder,
attendance confirmation and auto-release, opportunity changes, waiting-list promotion."""

from __future__ import annotations

import collections
import datetime as dt
from typing import Any

import pytest

from consumers.campaigns.projector import PROJECTOR as CAMPAIGNS
from infra.db import connect
from infra.local.sinks import Sinks, read_sms, read_smtp
from infra.settings import Settings
from schemas.decode import decode_event
from tests.integration.notifications.conftest import notifier, settled
from tests.integration.notifications.world import publish_events, signed_up, withdrawn
from tests.integration.notifications.world_messages import (
    notifier_at,
    published,
    updated,
    volunteer,
    wait_rows,
)
from tests.support.projectors import create_prefixed_topics, end_offsets, run_until_caught_up
from tests.support.topics import read_from_start

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
LEDGER = 'select * from "{}".outbox where template = any($1::text[]) order by volunteer_id'


def by_key(rows: list[dict[str, Any]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {(r["volunteer_id"], r["template"], r["channel"]): r for r in rows}


async def test_two_hours_before_an_sms_reminder_and_48_hours_before_a_confirmation_request(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """A shift 90 min away: the 2 h SMS goes (the 24 h one is past its window); a shift 30 h
    away: the attendance confirmation is asked at once, the 2 h reminder waits."""
    prefix, schema = f"nm2.{unique}.", f"nm2_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    soon = published("opp-soon", starts_in=dt.timedelta(minutes=90))
    later = published("opp-later", starts_in=dt.timedelta(hours=30))
    events = [volunteer("v-1"), volunteer("v-2", language="ar"), soon, later,
              signed_up("v-1", "opp-soon"), signed_up("v-2", "opp-later")]  # fmt: skip
    await publish_events(notifier_settings, prefix, events)
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            rows = await settled(conn, schema, expected=4 + 12, task=task, held_ok=True)
    finally:
        await conn.close()
    ledger = by_key(rows)
    assert ledger[("v-1", "shift_reminder_2h", "sms")]["status"] == "sent"
    assert ledger[("v-1", "shift_reminder", "sms")]["reason"] == "too_late"
    assert ledger[("v-1", "attendance_confirmation", "sms")]["reason"] == "too_late"
    assert ledger[("v-2", "attendance_confirmation", "sms")]["status"] == "sent"
    waiting = ledger[("v-2", "shift_reminder_2h", "sms")]
    assert waiting["status"] == "pending"
    assert waiting["next_attempt_at"] == later.data.starts_at - dt.timedelta(hours=2)
    sms = read_sms(sinks.directory)
    two_hours = [t for t in sms if "starts in about 2 hours" in t["body"]]
    assert [t["to"] for t in two_hours] == ["+97460000001"]
    asked = [t for t in sms if "نعم" in t["body"]]  # Arabic: reply YES (نعم) or NO (لا)
    assert [t["to"] for t in asked] == ["+97460000002"]


async def test_an_unanswered_place_is_released_only_where_the_opportunity_asks(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Auto-release: v-1 silent is released, v-2 (waiting, answered YES) moves to the place
    and is told; v-3 silent on an opportunity without auto-release keeps the place. The
    campaigns read model shows the released place."""
    prefix, schema = f"nmr.{unique}.", f"nmr_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    first = dt.datetime.now(dt.UTC)
    events = [
        *(volunteer(v) for v in ("v-1", "v-2", "v-3")),
        published("opp-auto", capacity=1, auto_release=True),
        published("opp-keep", capacity=5),
        signed_up("v-1", "opp-auto", time=first),
        signed_up("v-2", "opp-auto", time=first + dt.timedelta(seconds=1)),  # waiting
        signed_up("v-3", "opp-keep", time=first),
    ]
    await publish_events(notifier_settings, prefix, events)
    offset = [dt.timedelta(0)]  # the notifier's clock: moved 9 h on, into the release window

    def clock() -> dt.datetime:
        return dt.datetime.now(dt.UTC) + offset[0]

    conn = await connect(notifier_settings)
    try:
        async with notifier_at(notifier_settings, prefix, schema, clock) as task:
            asked = await wait_rows(
                conn, LEDGER.format(schema), ["attendance_confirmation"], task=task,
                check=lambda rows: len(rows) == 3 and all(r["status"] == "sent" for r in rows),
            )  # fmt: skip
            # v-2 answers YES (what the inbound SMS webhook records); v-1 and v-3 stay silent.
            await conn.execute(
                f'update "{schema}".outbox set reply = $1, replied_at = now()'
                " where notification_id = $2", "yes",
                next(r["notification_id"] for r in asked if r["volunteer_id"] == "v-2"),
            )  # fmt: skip
            offset[0] = dt.timedelta(hours=9)  # 11 h before the start: release lead is 12 h
            promoted = await wait_rows(
                conn, LEDGER.format(schema), ["waitlist_promoted", "signup_withdrawn"],
                task=task, check=lambda rows: len(rows) == 3
                and all(r["status"] == "sent" for r in rows),
            )  # fmt: skip
            released = await conn.fetch(
                f'select volunteer_id from "{schema}".outbox where released_at is not null'
            )
    finally:
        await conn.close()
    assert [r["volunteer_id"] for r in released] == ["v-1"]
    assert sorted((r["volunteer_id"], r["template"]) for r in promoted) == [
        ("v-1", "signup_withdrawn"), ("v-2", "waitlist_promoted"), ("v-2", "waitlist_promoted"),
    ]  # fmt: skip
    assert any("moved off the waiting list" in t["body"] for t in read_sms(sinks.directory))
    # The withdrawal is a platform fact on the sign-ups topic, once.
    tps = list(await end_offsets(notifier_settings, [prefix + "tatawwu.signups"]))
    records = await read_from_start(notifier_settings, tps, 4, wait_s=30, poll_ms=2000)
    releases = [e for e in map(decode_event, (r.value for r in records))
                if e.type == "volunteer.signup_withdrawn"]  # fmt: skip
    assert [(e.source, e.data.volunteer_id, e.data.opportunity_id) for e in releases] == [
        ("platform/confirmations", "v-1", "opp-auto")
    ]
    # The campaigns read model sees the place released (and the waiting volunteer in it).
    campaigns = f"nmrc_{unique}"
    await run_until_caught_up(
        notifier_settings, {"campaigns": CAMPAIGNS}, {"campaigns": campaigns}, prefix,
        group=f"g-{campaigns}",
    )  # fmt: skip
    conn = await connect(notifier_settings)
    try:
        stats = {
            r["opportunity_id"]: (r["signups"], r["withdrawals"], r["waitlisted"])
            for r in await conn.fetch(f'select * from "{campaigns}".opportunity_stats')
        }
    finally:
        await conn.close()
    assert stats == {"opp-auto": (1, 1, 0), "opp-keep": (1, 0, 0)}


async def test_a_change_reschedules_reminders_and_tells_each_signed_up_volunteer_once(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Moved from 30 h to 20 h ahead and to Al Rayyan, the update delivered twice: v-1 and
    v-2 are told once on each channel, v-3 (withdrawn) not; the 24 h reminders held for
    later go now, the 2 h ones wait for the new time; the campaigns read model follows."""
    prefix, schema = f"nmc.{unique}.", f"nmc_{unique}"
    await create_prefixed_topics(notifier_settings, prefix)
    events = [
        *(volunteer(v) for v in ("v-1", "v-2", "v-3")),
        published("opp-1", starts_in=dt.timedelta(hours=30)),
        *(signed_up(v, "opp-1") for v in ("v-1", "v-2", "v-3")),
        withdrawn("v-3", "opp-1"),
    ]
    await publish_events(notifier_settings, prefix, events)
    new_start = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(hours=20)
    change = updated("opp-1", "upd-1", starts_at=new_start,
                     ends_at=new_start + dt.timedelta(hours=3), municipality="al_rayyan")  # fmt: skip
    conn = await connect(notifier_settings)
    try:
        async with notifier(notifier_settings, prefix, schema) as task:
            before = await settled(conn, schema, expected=6 + 18 + 1, task=task, held_ok=True)
            held = by_key(before)[("v-1", "shift_reminder", "sms")]
            assert held["status"] == "pending"  # until 24 h before the first start
            await publish_events(notifier_settings, prefix, [change, change])
            rows = await settled(conn, schema, expected=6 + 18 + 1 + 4, task=task, held_ok=True)
    finally:
        await conn.close()
    ledger = by_key(rows)
    told = sorted(k for k in ledger if k[1] == "opportunity_changed")
    assert told == [("v-1", "opportunity_changed", "email"), ("v-1", "opportunity_changed", "sms"),
                    ("v-2", "opportunity_changed", "email"), ("v-2", "opportunity_changed", "sms")]  # fmt: skip
    assert {ledger[k]["status"] for k in told} == {"sent"}
    assert ledger[("v-1", "shift_reminder", "sms")]["status"] == "sent"  # rescheduled: due now
    assert ledger[("v-3", "shift_reminder", "sms")]["reason"] == "withdrawn"
    two_hours = ledger[("v-2", "shift_reminder_2h", "sms")]
    assert two_hours["next_attempt_at"] == new_start - dt.timedelta(hours=2)
    changed = [t for t in read_sms(sinks.directory) if "has changed" in t["body"]]
    assert collections.Counter(t["to"] for t in changed) == {"+97460000001": 1, "+97460000002": 1}
    assert "new place Al Rayyan" in changed[0]["body"]
    mails = [m for m in read_smtp(sinks.directory) if m["subject"].startswith("Changed")]
    assert sorted(m["rcpt_tos"][0] for m in mails) == ["v-1@example.org", "v-2@example.org"]
    campaigns = f"nmcc_{unique}"
    await run_until_caught_up(
        notifier_settings, {"campaigns": CAMPAIGNS}, {"campaigns": campaigns}, prefix,
        group=f"g-{campaigns}",
    )  # fmt: skip
    conn = await connect(notifier_settings)
    try:
        row = await conn.fetchrow(f'select * from "{campaigns}".opportunities')
    finally:
        await conn.close()
    assert (row["starts_at"], row["municipality"]) == (new_start, "al_rayyan")
