"""Erasure end to end: a volunteer's key destroyed, `volunteer.erased` published; the read
models drop their personal data, a rebuild restores nothing personal, a kill resumes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from typing import Any

import orjson
import pytest

from consumers.notifications.projector import build_projector
from consumers.participation import PROJECTOR as PARTICIPATION
from consumers.rebuild import rebuild
from consumers.volunteers import PROJECTOR as VOLUNTEERS
from infra import erasure
from infra.db import connect, create_pool
from infra.keys import build_key_service
from infra.sealing import seal_events
from infra.settings import Settings, child_env
from tests.integration.projectors.test_personal_read_models import publish_prefixed, world
from tests.support.personal import clear_hits, needles, personal_values, table_rows
from tests.support.projectors import create_prefixed_topics, delete_topics, run_until_caught_up
from tests.support.router import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


async def dump(settings: Settings, schemas: list[str]) -> dict[str, list[str]]:
    """Every table of the schemas, as sorted rows (JSON text: what a byte search reads)."""
    conn = await connect(settings)
    try:
        tables = await table_rows(conn, schemas)
    finally:
        await conn.close()
    return {name: sorted(orjson.dumps(r).decode() for r in rows) for name, rows in tables.items()}


def readable(tables: dict[str, list[str]], values: dict[str, Any]) -> list[str]:
    return [f"{name}: {n!r}" for name, rows in tables.items() for row in rows
            for n in needles(values) if n.decode() in row]  # fmt: skip


async def test_an_erased_volunteer_leaves_nothing_readable_and_a_rebuild_restores_nothing(
    stack: Settings, unique: str
) -> None:
    """After `erase`: no table of the volunteers, participation or notifier read models,
    and no record of the log, holds the name, phone or email; the other volunteer is
    untouched; the activity still counts; a rebuild gives the same tables."""
    prefix = f"er.{unique}."
    facts = world(unique)
    one, two = facts[2].subject, facts[3].subject
    values = {**personal_values(unique), "given2": f"Maryam{unique}", "phone2": "+97433300011"}
    pool = await create_pool(stack, min_size=1, max_size=1)
    try:
        sealed = await seal_events(build_key_service(stack, pool), facts)
    finally:
        await pool.close()
    projectors = {"volunteers": VOLUNTEERS, "participation": PARTICIPATION,
                  "notifications": build_projector(stack)}  # fmt: skip
    schemas = {name: f"er_{name[:5]}_{unique}" for name in projectors}
    await create_prefixed_topics(stack, prefix)
    try:
        await publish_prefixed(stack, prefix, sealed)
        await run_until_caught_up(stack, projectors, schemas, prefix, group=f"er-{unique}")
        before = await dump(stack, list(schemas.values()))
        assert readable(before, values)  # the read models held them until now

        [state] = await erasure.erase(stack, [one], topic_prefix=prefix)
        assert state.done
        assert state.key_destroyed_at is not None
        [again] = await erasure.erase(stack, [one], topic_prefix=prefix)  # repeat: a no-op
        assert again == state
        await run_until_caught_up(stack, projectors, schemas, prefix, group=f"er-{unique}")
        after = await dump(stack, list(schemas.values()))
        assert readable(after, values) == []
        assert clear_hits(await read_all(stack, [prefix + "tatawwu.volunteers"]), values) == []
        erased_events = [r for r in await read_all(stack, [prefix + "tatawwu.volunteers"])
                         if b'"volunteer.erased"' in r.value]  # fmt: skip
        assert len(erased_events) == 1  # published once, whatever the repeats

        conn = await connect(stack)
        try:
            row = await conn.fetchrow(
                f'select * from "{schemas["volunteers"]}".volunteers where volunteer_id = $1', one
            )
            assert row["status"] == "erased"
            assert [row[c] for c in ("given_name", "phone", "email", "birth_year", "gender",
                                     "municipality")] == [None] * 6  # fmt: skip
            activity = await conn.fetchval(
                f'select count(*) from "{schemas["volunteers"]}".participations'
                " where volunteer_id = $1", one,
            )  # fmt: skip
            assert activity == 1  # the sign-up still counts, anonymously
            other = await conn.fetchrow(
                f'select * from "{schemas["volunteers"]}".volunteers where volunteer_id = $1', two
            )
            assert other["status"] == "registered"
            assert other["phone"] is not None
            pending = await conn.fetchval(
                f'select count(*) from "{schemas["notifications"]}".outbox'
                " where volunteer_id = $1 and status = 'pending'", one,
            )  # fmt: skip
            assert pending == 0
        finally:
            await conn.close()

        for name in ("volunteers", "participation"):
            await rebuild(stack, projectors[name], schema=schemas[name], topic_prefix=prefix,
                          dashboard_views=False)  # fmt: skip
        rebuilt = await dump(stack, [schemas["volunteers"], schemas["participation"]])
        assert readable(rebuilt, values) == []
        for name in ("volunteers", "participation"):
            table = (
                f"{schemas[name]}.{'volunteers' if name == 'volunteers' else 'volunteer_profiles'}"
            )
            assert rebuilt[table] == after[table]
    finally:
        await delete_topics(stack, prefix)


async def test_an_erasure_killed_before_its_key_is_destroyed_is_resumed(
    stack: Settings, unique: str
) -> None:
    """SIGKILL while the key is being destroyed: the erasure stays pending (nothing was
    published; the key's destruction may or may not have committed server-side, the
    statement was in flight); `erase --resume` finishes it, `volunteer.erased` once."""
    prefix, volunteer = f"ek.{unique}.", f"vk-{unique}"
    await create_prefixed_topics(stack, prefix)
    pool = await create_pool(stack, min_size=1, max_size=2)
    try:
        keys = build_key_service(stack, pool)
        kid = (await keys.keys_for([volunteer]))[volunteer].kid
        blocker = await connect(stack)
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute(
            "select 1 from keys.volunteer_keys where volunteer_id = $1 for update", volunteer
        )
        command = [sys.executable, "-m", "tatawwu", "volunteers", "erase", volunteer,
                   "--topic-prefix", prefix]  # fmt: skip
        child = await asyncio.create_subprocess_exec(
            *command, cwd=ROOT, env=child_env(stack),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            for _ in range(300):  # the child is waiting for the key's row lock
                waiting = await pool.fetchval(
                    "select count(*) from pg_stat_activity where wait_event_type = 'Lock'"
                    " and query like 'update \"keys\".volunteer_keys%'"
                )
                if waiting:
                    break
                await asyncio.sleep(0.1)
            assert waiting, "the erasure never reached the key"
            child.send_signal(signal.SIGKILL)
            await asyncio.wait_for(child.wait(), 30)
        finally:
            await transaction.rollback()
            await blocker.close()
        assert volunteer in await erasure.pending(stack)
        assert await read_all(stack, [prefix + "tatawwu.volunteers"]) == []
        resumed = await asyncio.create_subprocess_exec(
            *command[:5], "--resume", "--topic-prefix", prefix, cwd=ROOT, env=child_env(stack),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        _, err = await asyncio.wait_for(resumed.communicate(), 120)
        assert resumed.returncode == 0, err.decode()[-2000:]
        assert await build_key_service(stack, pool).keys_by_id([kid]) == {}
        assert volunteer not in await erasure.pending(stack)
        records = await read_all(stack, [prefix + "tatawwu.volunteers"])
        # Once (other pending erasures, a crashed earlier run's, may be finished too).
        assert [r.key for r in records].count(volunteer.encode()) == 1
    finally:
        await pool.close()
        await delete_topics(stack, prefix)
