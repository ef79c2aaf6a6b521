"""Several senders on one ledger and a provider slower than the lease: nothing sent twice.

Two senders claim everything and hand it to sinks that answer 3 s late, with a 1 s lease;
once their leases have run out (their sends still in flight), a third sender starts and
claims those rows again. What is proven, from the sinks' own files and the ledger:

- every message reached each sink exactly once (one stored SMS per idempotency key, one
  stored email per Message-ID);
- the sinks *were* asked again (the re-claims), every repeat under the row's own
  idempotency key, and dropped it; no row was asked for more often than it was claimed;
- each row was recorded once: the stale holders' late results were fenced (discarded,
  `fenced_total{stage="record"}`), so `sent` was counted once per row and one outcome
  event went out; rows whose lease ran out while they waited in a holder's claim were
  left to the next claimer, not sent (`stage="before_send"`).

Not proven (nor promised): that a provider is never asked twice. A sender cannot tell a
slow provider from a dead holder; the idempotency key is what makes the repeat harmless.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client import REGISTRY

from consumers.notifications.providers import Providers
from consumers.notifications.sender import Sender
from infra.db import connect, create_pool
from infra.kafka import build_producer
from infra.local.sink_files import SMS_REPEATS_FILE, SMTP_REPEATS_FILE, read_repeats
from infra.local.sinks import Sinks, read_sms, read_smtp
from infra.settings import Settings
from schemas.decode import decode_event
from tests.integration.notifications.conftest import notifier, settled
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
LEASE_S, SLOW_S = 1.0, 3.0


def counted(name: str, **labels: str) -> float:
    """A notifier counter's current value, summed over the labels not named."""
    total = 0.0
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == name and labels.items() <= sample.labels.items():
                total += sample.value
    return total


@contextlib.asynccontextmanager
async def sender(settings: Settings, schema: str, prefix: str, batch: int) -> AsyncIterator[None]:
    """One more sender (the delivering half only) on the same ledger, in this loop."""
    pool = await create_pool(settings, min_size=1, max_size=4,
                             server_settings={"search_path": f'"{schema}"'})  # fmt: skip
    producer = build_producer(settings)
    await producer.start()
    http = httpx.AsyncClient(timeout=10)
    stopping = asyncio.Event()
    one = Sender(settings, pool, producer, Providers(settings, http), batch=batch,
                 lease_s=settings.notify_lease_s, topic_prefix=prefix)  # fmt: skip
    task = asyncio.create_task(one.run(stopping, idle_s=0.1))
    try:
        yield
    finally:
        stopping.set()
        await asyncio.wait_for(task, timeout=30)
        await one.providers.close()
        await http.aclose()
        await producer.stop()
        await pool.close()


async def test_a_send_that_outlives_its_lease_is_recorded_once_and_delivered_once(
    notifier_settings: Settings, sinks: Sinks, unique: str
) -> None:
    """Re-claimed rows reach the sinks once; the stale holders' results change nothing."""
    # No lease renewal: these holders stand for ones that cannot renew (paused, cut off
    # from the database); `test_notifier_pipeline.py` shows renewal keeping the rows.
    settings = notifier_settings.model_copy(
        update={"notify_lease_s": LEASE_S, "notify_lease_renew": False}
    )
    prefix, schema = f"ntfl.{unique}.", f"ntfl_{unique}"
    await create_prefixed_topics(settings, prefix)
    sinks.sms_state.delay_s = sinks.smtp_handler.delay_s = SLOW_S
    volunteers = [f"v-{n}" for n in range(1, VOLUNTEERS + 1)]
    await publish_events(settings, prefix, [opportunity()]
                         + [e for v in volunteers for e in (registered(v), signed_up(v))])  # fmt: skip
    sent_before = counted("tatawwu_notifier_messages_total", outcome="sent")
    fenced_before = {stage: counted("tatawwu_notifier_fenced_total", stage=stage)
                     for stage in ("record", "before_send")}  # fmt: skip
    conn = await connect(settings)
    try:
        async with notifier(settings, prefix, schema) as task:
            while not await conn.fetchval("select to_regclass($1)", f'"{schema}".outbox'):
                assert not task.done()
                await asyncio.sleep(0.05)
            async with sender(settings, schema, prefix, batch=20):
                # Sends in flight past their lease: a third sender may take them now.
                while not await conn.fetchval(
                    f'select exists(select from "{schema}".outbox'
                    " where status = 'sending' and lease_until < now())"
                ):
                    assert not task.done()
                    await asyncio.sleep(0.05)
                async with sender(settings, schema, prefix, batch=50):
                    rows = await settled(
                        conn, schema, expected=ROWS, task=task, wait_s=120, waiting=HELD
                    )
                    await asyncio.sleep(SLOW_S)  # the last stale holders come back meanwhile
                rows = await settled(conn, schema, expected=ROWS, task=task, waiting=HELD)
    finally:
        await conn.close()
    rows = [r for r in rows if r["template"] != "shift_reminder_2h"]  # held, not sent

    assert {r["status"] for r in rows} == {"sent"}
    sent = counted("tatawwu_notifier_messages_total", outcome="sent") - sent_before
    assert sent == SENT, f"{sent} sends recorded for {SENT} rows: a stale holder recorded"
    fenced = {stage: counted("tatawwu_notifier_fenced_total", stage=stage) - before
              for stage, before in fenced_before.items()}  # fmt: skip
    assert fenced["record"] > 0  # late results were discarded...
    assert fenced["before_send"] > 0  # ...and rows whose lease ran out while queued not sent

    ledger_sms = {r["notification_id"] for r in rows if r["channel"] == "sms"}
    ledger_email = {f"<{r['notification_id']}@tatawwu>" for r in rows if r["channel"] == "email"}
    stored_sms = [t["idempotency_key"] for t in read_sms(sinks.directory)]
    stored_email = [m["message_id"] for m in read_smtp(sinks.directory)]
    assert sorted(stored_sms) == sorted(ledger_sms)  # each once
    assert sorted(stored_email) == sorted(ledger_email)  # each once
    # Every request the sinks were asked, before deduplication: repeats happened (rows
    # were re-claimed while their first send was in flight), each under the row's key.
    repeats = [r["idempotency_key"] for r in read_repeats(sinks.directory, SMS_REPEATS_FILE)]
    repeats += [r["message_id"] for r in read_repeats(sinks.directory, SMTP_REPEATS_FILE)]
    assert repeats, "no row was claimed again while in flight: the test proved nothing"
    assert set(repeats) <= ledger_sms | ledger_email
    asked = collections.Counter(stored_sms + stored_email + repeats)
    claims = {r["notification_id"]: r["attempts"] for r in rows}
    for key, times in asked.items():
        assert times <= claims[key.removeprefix("<").removesuffix("@tatawwu>")], key

    # One outcome event per row: no late update made a row be reported again.
    tps = list(await end_offsets(settings, [prefix + "tatawwu.notifications"]))
    records = await read_from_start(settings, tps, SENT + 1, wait_s=3, poll_ms=500)
    ids = collections.Counter(decode_event(r.value).id for r in records)
    assert len(ids) == SENT
    assert max(ids.values()) == 1, ids.most_common(3)
    print(f"rows={ROWS} repeats_dropped={len(repeats)} claims={sum(claims.values())} "
          f"fenced={fenced}")  # fmt: skip
