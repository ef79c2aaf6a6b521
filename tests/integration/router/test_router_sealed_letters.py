"""The router's dead letters hold no personal data in clear, and erasure makes them unreadable."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from consumers.dlq import open_letters, read_dead_letters, replay, show
from consumers.router.counts import schema_for
from consumers.sealed_letters import drop_expired_keys, platform_key_id, run_key_retention
from infra.db import connect, create_pool
from infra.keys import build_key_service
from infra.settings import Settings, child_env
from schemas.topics import DEADLETTER
from tests.support.personal import clear_hits, needles, personal_values
from tests.support.router import (
    as_raw,
    create_ingress,
    partner_event,
    produce,
    read_all,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[3]


async def _table_text(settings: Settings, schema: str) -> str:
    """Every column of the router's dead-letter table, as text."""
    conn = await connect(settings)
    try:
        rows = await conn.fetch(f'select t::text as row from "{schema}"._deadletters t')
    finally:
        await conn.close()
    return "\n".join(r["row"] for r in rows)


async def test_a_refused_registration_is_sealed_and_erasure_makes_it_unreadable(
    stack: Settings, prefix: str, unique: str
) -> None:
    """A registration refused (another org's source) and one failing the schema name a
    volunteer: neither the dead-letter topic (plain consumer) nor the table holds their name,
    phone or email; the operator's tools open them; after `tatawwu volunteers erase` they
    cannot be opened or replayed, while the diagnostics stay readable."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    values = personal_values(unique)
    refused = partner_event(org, "volunteer.registered", 1, unique, **values) | {
        "source": f"partner/other-{unique}"
    }
    broken = partner_event(org, "volunteer.registered", 1, f"{unique}b", **values)
    broken["data"]["birth_year"] = "not a year"
    await produce(stack, topic, [as_raw(refused), as_raw(broken)])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 30)
    volunteer = refused["subject"]
    letters = await read_all(stack, [prefix + DEADLETTER.name])
    assert len(letters) == 2
    assert clear_hits(letters, values) == []
    heads = [{n: bytes(v) for n, v in r.headers} for r in letters]
    assert {h["error"] for h in heads} == {b"source", b"invalid_event"}  # diagnostics readable
    assert {h["value_sealed"] for h in heads} == {b"volunteer"}
    assert all(h["original_topic"] == topic.encode() for h in heads)
    table = await _table_text(stack, schema_for(prefix))
    assert refused["id"] in table
    assert broken["id"] in table
    assert not [n for n in needles(values) if n.decode() in table]

    stored = await read_dead_letters(stack, prefix + DEADLETTER.name)
    opened, unreadable = await open_letters(stack, stored)
    assert unreadable == 0
    assert all(values["email"].encode() in value for *_, value, _ in opened)
    shown = await show(stack, 10, prefix)  # `tatawwu dlq show`
    assert [values["email"] in letter["payload"] for letter in shown] == [True, True]

    command = [sys.executable, "-m", "tatawwu", "volunteers", "erase", volunteer,
               "--topic-prefix", prefix]  # fmt: skip
    child = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=child_env(stack),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    _, err = await asyncio.wait_for(child.communicate(), 120)
    assert child.returncode == 0, err.decode()[-2000:]

    opened, unreadable = await open_letters(stack, stored)
    assert (opened, unreadable) == ([], 2)
    shown = await show(stack, 10, prefix)
    assert {letter["payload"] for letter in shown} == {"[unreadable: key destroyed]"}
    assert {letter["error"] for letter in shown} == {"source", "invalid_event"}
    report = await replay(stack, projector="router", topic_prefix=prefix)
    assert (report.dead_letters, report.unreadable, report.replayed) == (2, 2, [])
    still = await read_all(stack, [prefix + DEADLETTER.name])
    assert clear_hits(still, values) == []
    assert {dict(r.headers)["error"] for r in still} == {b"source", b"invalid_event"}


async def test_a_letter_naming_no_volunteer_is_sealed_with_the_days_platform_key(
    stack: Settings, prefix: str, unique: str
) -> None:
    """Bytes that are no event (an email inside broken JSON) and no Kafka key: sealed with
    the platform key of the day, readable until the retention purge drops keys past the
    setting (keyed by an id, it would be sealed with that id's key too:
    test_router_erased_letters.py)."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    email = f"nobody.{unique}@example.qa"
    await produce(stack, topic, [(None, f'{{"email": "{email}", oops'.encode(), [])])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 30)
    [letter] = await read_all(stack, [prefix + DEADLETTER.name])
    assert email.encode() not in letter.value
    assert dict(letter.headers)["value_sealed"] == b"platform"
    stored = await read_dead_letters(stack, prefix + DEADLETTER.name)
    [(_, _, _, value, _)], _ = await open_letters(stack, stored)
    assert value is not None
    assert email.encode() in value

    pool = await create_pool(stack, min_size=1, max_size=1)
    try:
        keys = build_key_service(stack, pool)
        today = dt.datetime.now(dt.UTC).date()
        assert await drop_expired_keys(keys, 30, today, prefix) == 0  # today's key is kept
        name = platform_key_id(today, prefix)
        assert (await keys.keys_for([name]))[name].kid == dict(letter.headers)["value_kid"].decode()
        # 31 days on, the purge destroys it, once.
        later = today + dt.timedelta(days=31)
        assert await drop_expired_keys(keys, 30, later, prefix) == 1
        assert await drop_expired_keys(keys, 30, later, prefix) == 0
    finally:
        await pool.close()
    assert await open_letters(stack, stored) == ([], 1)
    # Its key gone, a new letter of the day is not sealed in clear: its payload is dropped.
    await produce(stack, topic, [(b"k", f'{{"email": "{email}", again'.encode(), [])])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 30)
    letters = await read_all(stack, [prefix + DEADLETTER.name])
    assert [r.value for r in letters][1] == b""
    assert dict(letters[1].headers)["value_dropped"] == b"platform_key_destroyed"


async def test_the_routers_key_retention_drops_old_days_keys_and_stops(
    stack: Settings, prefix: str
) -> None:
    """`run_key_retention` (the router's timer) destroys a key 40 days old at its first
    pass, keeps one 2 days old, and returns once stopping is set."""
    today = dt.datetime.now(dt.UTC).date()
    old, recent = (platform_key_id(today - dt.timedelta(days=d), prefix) for d in (40, 2))
    pool = await create_pool(stack, min_size=1, max_size=2)
    stopping = asyncio.Event()
    try:
        keys = build_key_service(stack, pool)
        made = await keys.keys_for([old, recent])
        task = asyncio.create_task(run_key_retention(keys, 30, 3600, stopping, prefix))
        for _ in range(200):
            if not await build_key_service(stack, pool).keys_by_id([made[old].kid]):
                break
            await asyncio.sleep(0.05)
        stopping.set()
        await asyncio.wait_for(task, 10)
        fresh = build_key_service(stack, pool)
        assert await fresh.keys_by_id([made[old].kid]) == {}
        assert set(await fresh.keys_by_id([made[recent].kid])) == {made[recent].kid}
    finally:
        stopping.set()
        await pool.close()
