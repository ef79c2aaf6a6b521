"""Two notifier instances, a provider slower than the lease, the pipeline with lease renewal.

Both instances claim from one ledger and hand their messages to sinks that answer 5 s
late, with a 2 s lease. The senders renew the leases of the rows they still work on, so
no row is claimed by the other instance meanwhile: every message reaches its sink once
and is never even asked for twice (no repeats for the sinks to drop), each row is
claimed once and recorded once, and the SMS went out in batches. Compare
`test_notifier_fencing.py`, where holders cannot renew and the idempotency keys and the
lease tokens have to absorb the re-claims.
"""

from __future__ import annotations

import collections

import pytest

from infra.db import connect
from infra.local.sink_files import SMS_REPEATS_FILE, SMTP_REPEATS_FILE, read_repeats
from infra.local.sinks import Sinks, read_sms, read_smtp
from infra.settings import Settings
from schemas.decode import decode_event
from tests.integration.notifications.conftest import notifier, settled
from tests.integration.notifications.test_notifier_fencing import counted
from tests.integration.notifications.world import opportunity, publish_events, registered, signed_up
from tests.support.projectors import create_prefixed_topics, end_offsets
from tests.support.topics import read_from_start

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
VOLUNTEERS = 10
# welcome, sign-up confirmed and the reminder by email and SMS, the attendance confirmation
# by SMS (all sent), and the 2 h reminder by SMS (held: the shift is 20 h away)
ROWS = VOLUNTEERS * (3 * 2 + 2)
SENT = ROWS - VOLUNTEERS
HELD = frozenset({"shift_reminder_2h"})
LEASE_S, SLOW_S = 2.0, 5.0  # a loaded machine can stall an event loop for a second


async def test_two_instances_and_a_slow_provider_send_each_message_once(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Renewed leases: no re-claim, no repeat asked of a sink, one record per row."""
    settings = notifier_settings.model_copy(update={"notify_lease_s": LEASE_S})
    assert settings.notify_lease_renew
    assert settings.notify_sms_batch > 1
    prefix, schema = f"ntfp.{unique}.", f"ntfp_{unique}"
    await create_prefixed_topics(settings, prefix)
    sinks.sms_state.delay_s = sinks.smtp_handler.delay_s = SLOW_S
    volunteers = [f"v-{n}" for n in range(1, VOLUNTEERS + 1)]
    sent_before = counted("tatawwu_notifier_messages_total", outcome="sent")
    fenced_before = counted("tatawwu_notifier_fenced_total")
    renewed_before = counted("tatawwu_notifier_lease_renewals_total")
    conn = await connect(settings)
    try:
        async with notifier(settings, prefix, schema) as one, notifier(settings, prefix, schema):
            await publish_events(settings, prefix, [opportunity()]
                                 + [e for v in volunteers for e in (registered(v), signed_up(v))])  # fmt: skip
            rows = await settled(conn, schema, expected=ROWS, task=one, wait_s=180, waiting=HELD)
    finally:
        await conn.close()

    assert {r["template"] for r in rows if r["status"] == "pending"} <= HELD
    rows = [r for r in rows if r["template"] not in HELD]
    assert len(rows) == SENT

    assert {(r["status"], r["attempts"]) for r in rows} == {("sent", 1)}  # each claimed once
    assert counted("tatawwu_notifier_messages_total", outcome="sent") - sent_before == SENT
    assert counted("tatawwu_notifier_fenced_total") == fenced_before
    assert counted("tatawwu_notifier_lease_renewals_total") > renewed_before  # it was needed
    ledger_sms = sorted(r["notification_id"] for r in rows if r["channel"] == "sms")
    ledger_email = sorted(
        f"<{r['notification_id']}@tatawwu>" for r in rows if r["channel"] == "email"
    )
    assert sorted(t["idempotency_key"] for t in read_sms(sinks.directory)) == ledger_sms
    assert sorted(m["message_id"] for m in read_smtp(sinks.directory)) == ledger_email
    assert read_repeats(sinks.directory, SMS_REPEATS_FILE) == []  # never asked twice
    assert read_repeats(sinks.directory, SMTP_REPEATS_FILE) == []
    assert 0 < sinks.sms_state.batches < len(ledger_sms)  # several SMS a request

    tps = list(await end_offsets(settings, [prefix + "tatawwu.notifications"]))
    records = await read_from_start(settings, tps, SENT + 1, wait_s=3, poll_ms=500)
    ids = collections.Counter(decode_event(r.value).id for r in records)
    assert len(ids) == SENT
    assert max(ids.values()) == 1
