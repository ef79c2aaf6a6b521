"""Delivery feedback end to end: the sinks bounce, complain and fail on cue and report it.

A permanent bounce stops further email to that address until the volunteer's address
changes; a complaint turns email consent off; SMS receipts and bounces become
`notification.delivered`, `.bounced` and `.failed` on the real Kafka.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infra.local.sinks import read_smtp
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


async def _row(w: World, n: int, template: str, channel: str) -> dict[str, Any] | None:
    rows = await w.rows(f"vol-{w.partner.unique}-{n}")
    found = [r for r in rows if (r["template"], r["channel"]) == (template, channel)]
    return found[-1] if found and found[-1]["status"] not in ("pending", "sending") else None


def _of(events: list[Any], kind: str, volunteer_id: str, channel: str) -> list[Any]:
    return [e for e in events if e.type == f"notification.{kind}"
            and e.data.volunteer_id == volunteer_id and str(e.data.channel) == channel]  # fmt: skip


async def test_bounces_complaints_and_receipts_change_what_is_sent_and_become_events(
    stack: Settings, tmp_path: Path, unique: str
) -> None:
    """Volunteer 1's address bounces, volunteer 2 complains, volunteer 3's number fails."""
    directory = tmp_path / "sinks"
    async with world(stack, directory, unique) as w:
        p = w.partner
        v1, v2, v3 = (f"vol-{unique}-{n}" for n in (1, 2, 3))
        w.webhooks.outcomes.update(bounce=[f"{v1}@example.org"], complain=[f"{v2}@example.org"],
                                   fail=[phone(p, 3)])  # fmt: skip
        await w.publish(launched(p), volunteer(p, 1), volunteer(p, 2), volunteer(p, 3))

        def arrived(events: list[Any]) -> bool:
            return bool(_of(events, "bounced", v1, "email") and _of(events, "failed", v3, "sms")
                        and _of(events, "delivered", v1, "sms")
                        and _of(events, "delivered", v3, "email"))  # fmt: skip

        events = await w.outcome_events(arrived)
        (bounced,) = _of(events, "bounced", v1, "email")
        assert bounced.data.permanent is True
        assert "550" in bounced.data.reason
        assert bounced.data.template == "welcome"
        (failed,) = _of(events, "failed", v3, "sms")
        assert "unreachable" in failed.data.error
        assert {e.source for e in events} == {"platform/notifications"}
        assert not _of(events, "delivered", v2, "email")  # complained, not delivered

        async def email_consent_off() -> bool:
            contact = await w.contact(v2)
            consent = contact and contact["consent"]
            return bool(consent) and consent["email"] is False and consent["sms"] is True

        await until(email_consent_off, "the complaint to turn volunteer 2's email consent off")
        await w.publish(opportunity(p, 1), signed_up(p, 1), signed_up(p, 2))
        row1 = await until(lambda: _row(w, 1, "signup_confirmed", "email"), "v1's sign-up email")
        row2 = await until(lambda: _row(w, 2, "signup_confirmed", "email"), "v2's sign-up email")
        assert (row1["status"], row1["reason"]) == ("suppressed", "no_contact")  # bounced address
        assert (row2["status"], row2["reason"]) == ("suppressed", "no_consent")  # complained
        assert (await until(lambda: _row(w, 1, "signup_confirmed", "sms"), "v1's SMS"))[
            "status"
        ] == "sent"  # the bounce stopped email only

        # A new address: email goes out again, to it.
        new = f"{v1}-new@example.org"
        update = p.document("volunteer.profile_updated", f"evt-{unique}-upd-1", volunteer_id=v1)
        update["data"]["email"] = new
        await w.publish(update)

        async def moved() -> bool:
            contact = await w.contact(v1)
            return bool(contact and contact["email"] == new)

        await until(moved, "the new address in the notifier's contacts")
        await w.publish(opportunity(p, 2), signed_up(p, 1, opp=2))

        async def second_signup() -> dict[str, Any] | None:
            rows = [r for r in await w.rows(v1) if (r["template"], r["channel"]) ==
                    ("signup_confirmed", "email") and r["status"] == "sent"]  # fmt: skip
            return rows[0] if rows else None

        await until(second_signup, "the sign-up email to the new address")
        sent_to = [m["rcpt_tos"] for m in read_smtp(directory)]
        assert [new] in sent_to
        assert sent_to.count([f"{v1}@example.org"]) == 1  # the welcome that bounced, only
