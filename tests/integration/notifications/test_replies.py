"""SMS replies end to end: STOP, START, YES, NO and other words, from the sink to the notifier.

The SMS sink sends a volunteer's text to the gateway's webhook signed like a provider; the
gateway publishes the platform's facts to the real Kafka; the notifier and the campaigns
projector apply them from there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.local.sinks import read_sms
from infra.settings import Settings
from tests.integration.notifications.inbound import (
    World,
    launched,
    opportunity,
    phone,
    signed_up,
    until,
    volunteer,
    world,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def _sms(w: World, volunteer_id: str, template: str) -> dict[str, Any] | None:
    rows = [
        r for r in await w.rows(volunteer_id) if (r["template"], r["channel"]) == (template, "sms")
    ]
    return rows[0] if rows else None


async def test_stop_suppresses_an_sms_already_queued_and_start_turns_sms_back_on(
    stack: Settings, tmp_path: Path, unique: str
) -> None:
    """The welcome SMS waits for a retry; STOP comes; its retry is suppressed, never sent;
    START turns SMS consent back on and the next SMS goes out."""
    directory = tmp_path / "sinks"
    async with world(stack, directory, unique) as w:
        p, vid, number = w.partner, f"vol-{unique}-1", phone(w.partner, 1)
        w.sinks.sms_state.fail_remaining, w.sinks.sms_state.fail_status = 10_000, 503
        await w.publish(launched(p), volunteer(p, 1))

        async def queued() -> bool:
            row = await _sms(w, vid, "welcome")
            return bool(row and row["status"] == "pending" and row["attempts"] >= 1)

        await until(queued, "the welcome SMS to wait for a retry after a provider error")
        answer = await w.reply(number, " Stop. ")
        assert answer == {"outcome": "sms_consent_off", "keyword": "stop"}
        w.sinks.sms_state.fail_remaining = 0  # the provider works again: only consent stops it
        await w.conn.execute(
            f'update "{w.schema}".outbox set next_attempt_at = now()'
            " where volunteer_id = $1 and status = 'pending'", vid,
        )  # fmt: skip

        async def settled() -> dict[str, Any] | None:
            row = await _sms(w, vid, "welcome")
            return row if row and row["status"] not in ("pending", "sending") else None

        row = await until(settled, "the queued welcome SMS to be settled")
        assert (row["status"], row["reason"]) == ("suppressed", "no_consent")
        assert [m for m in read_sms(directory) if m["to"] == number] == []

        async def consent_is(sms: bool) -> bool:
            contact = await w.contact(vid)
            return bool(contact and contact["consent"]["sms"] is sms)

        await until(lambda: consent_is(False), "the STOP to reach the notifier's contacts")
        answer = await w.reply(number, "START")
        assert answer["outcome"] == "sms_consent_on"
        await until(lambda: consent_is(True), "the START to reach the notifier's contacts")
        # 72 h ahead: no reminder and no attendance confirmation yet
        await w.publish(opportunity(p, starts_in_h=72), signed_up(p, 1))

        async def confirmed() -> bool:
            row = await _sms(w, vid, "signup_confirmed")
            return bool(row and row["status"] == "sent")

        await until(confirmed, "the sign-up SMS after START")
        assert len([m for m in read_sms(directory) if m["to"] == number]) == 1
        held = await w.conn.fetchval(
            f'select count(*) from "{w.schema}".consent_holds where volunteer_id = $1', vid
        )
        assert held == 0


async def _confirmation(w: World, n: int) -> str:
    """The notifier's own attendance confirmation request to volunteer n, once sent."""

    async def sent() -> str | None:
        row = await _sms(w, f"vol-{w.partner.unique}-{n}", "attendance_confirmation")
        return row["notification_id"] if row and row["status"] == "sent" else None

    return await until(sent, f"the attendance confirmation request to volunteer {n}")


async def test_no_releases_the_place_yes_confirms_and_other_words_are_recorded(
    stack: Settings, tmp_path: Path, unique: str
) -> None:
    """NO (in Arabic) withdraws the sign-up from the platform and the campaigns read model
    frees the place; YES is recorded on the request; other words change nothing (200)."""
    async with world(stack, tmp_path / "sinks", unique, campaigns=True) as w:
        p = w.partner
        await w.publish(launched(p), opportunity(p, 1, starts_in_h=48), volunteer(p, 1),
                        volunteer(p, 2), signed_up(p, 1), signed_up(p, 2))  # fmt: skip

        async def stats(signups: int, withdrawals: int) -> bool:
            row = await w.conn.fetchrow(
                f'select signups, withdrawals from "{w.campaigns}".opportunity_stats'
                " where opportunity_id = $1", f"opp-{unique}-1",
            )  # fmt: skip
            return row is not None and (row["signups"], row["withdrawals"]) == (
                signups,
                withdrawals,
            )

        await until(lambda: stats(2, 0), "both sign-ups in the campaigns read model")

        async def known(n: int) -> bool:
            return await w.contact(f"vol-{unique}-{n}") is not None

        await until(lambda: known(2), "the volunteers in the notifier's contacts")
        first, second = await _confirmation(w, 1), await _confirmation(w, 2)

        assert await w.reply(phone(p, 1), "لا") == {"outcome": "attendance_no", "keyword": "no"}
        assert await w.reply(phone(p, 2), "Yes!") == {"outcome": "attendance_yes", "keyword": "yes"}
        await until(lambda: stats(1, 1), "the released place in the campaigns read model")
        replies = dict(await w.conn.fetch(
            f'select notification_id, reply from "{w.schema}".outbox where notification_id = any($1)',
            [first, second],
        ))  # fmt: skip
        assert replies == {first: "no", second: "yes"}
        # Answered: a second NO finds nothing pending; other words are kept and ignored.
        again = await w.reply(phone(p, 1), "NO")
        assert again["outcome"] == "no_pending_confirmation"
        assert (await w.reply(phone(p, 1), "see you there"))["outcome"] == "ignored"
        assert (await w.reply("+97400000001", "STOP"))["outcome"] == "unknown_sender"
        kept = await w.conn.fetch(
            "select keyword, outcome, body from gateway_inbound_sms where $1 = any(volunteer_ids)"
            " order by received_at", f"vol-{unique}-1",
        )  # fmt: skip
        assert [tuple(r) for r in kept] == [
            ("no", "attendance_no", None), ("no", "no_pending_confirmation", None),
            (None, "ignored", "see you there"),
        ]  # fmt: skip

        async def withdrawal_told() -> bool:
            rows = await w.rows(f"vol-{unique}-1")
            return any(r["template"] == "signup_withdrawn" for r in rows)

        await until(withdrawal_told, "the notifier to see the platform's withdrawal")
