"""Dead letters replayed after a fix are applied once; a second replay sends nothing."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from typing import Any

import asyncpg
import pytest

from consumers.campaigns import PROJECTOR
from consumers.dlq import replay
from consumers.runtime import ProjectorBroken, ProjectorRuntime
from infra.db import connect
from infra.settings import Settings
from schemas.envelope import Event
from schemas.examples import example
from tests.support.projectors import create_prefixed_topics, run_until_caught_up
from tests.support.streams import build_stream, publish_stream

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
EXAMPLE_VOLUNTEER = example("volunteer.checked_out")["data"]["volunteer_id"]


async def test_a_poison_event_replayed_after_the_fix_is_applied_exactly_once(
    stack: Settings, unique: str
) -> None:
    """A bug makes apply fail for the stream's check-outs; fixed and replayed, they count once.

    The bug depends on the data (the valid example check-out still applies), so these are
    bad records to the runtime, not a bad deploy: they are dead-lettered one by one.
    """
    prefix, schema = f"dlq.{unique}.", f"dlq_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(2_000, seed=21, duplicate_share=0, invalid_share=0)
    broken = True

    async def buggy_apply(
        conn: asyncpg.Connection, events: Sequence[Event[Any]], *pre: Any
    ) -> None:
        if broken and any(
            e.type == "volunteer.checked_out" and e.data.volunteer_id != EXAMPLE_VOLUNTEER
            for e in events
        ):
            msg = "simulated bug in check-out handling"
            raise RuntimeError(msg)
        await PROJECTOR.apply(conn, events, *pre)

    projector = dataclasses.replace(PROJECTOR, apply=buggy_apply)
    await publish_stream(stack, stream, prefix)
    conn = await connect(stack)

    async def project() -> None:
        await run_until_caught_up(stack, {"campaigns": projector}, {"campaigns": schema}, prefix,
                                  group=f"g-{unique}", wait_s=60)  # fmt: skip

    try:
        await project()
        poisoned = await conn.fetchval(
            f"""select count(*) from "{schema}"._deadletters where reason = 'apply_failed'"""
        )
        checkouts = sum(1 for _, _, v in stream.records if b'"volunteer.checked_out"' in v)
        assert poisoned == checkouts > 0
        applied_before = await conn.fetchval(f'select events_applied from "{schema}"._stats')
        assert applied_before == stream.unique_valid - checkouts

        broken = False  # the fix ships
        report = await replay(stack, reason="apply_failed", topic_prefix=prefix)
        assert len(report.replayed) == checkouts
        await project()
        assert (
            await conn.fetchval(f'select events_applied from "{schema}"._stats')
            == stream.unique_valid
        )
        assert (
            await conn.fetchval(
                f'select count(*) from "{schema}".participations where checked_out_at is not null'
            )
            > 0
        )

        again = await replay(stack, reason="apply_failed", topic_prefix=prefix)
        assert again.replayed == []
        assert again.already_replayed == checkouts
    finally:
        await conn.close()


@pytest.mark.parametrize("batch", [1, 5, 500])
async def test_a_projector_failing_on_every_event_stops_instead_of_dead_lettering(
    stack: Settings, unique: str, batch: int
) -> None:
    """A bad deploy (every apply fails) halts with nothing dead-lettered, whatever the batch."""
    prefix, schema = f"broken.{unique}.", f"broken_campaigns_{unique}"
    await create_prefixed_topics(stack, prefix)
    stream = build_stream(300, seed=22, duplicate_share=0, invalid_share=0)

    async def broken_apply(conn: asyncpg.Connection, events: Sequence[Event[Any]], *_: Any) -> None:
        msg = 'relation "participations_v2" does not exist'
        raise RuntimeError(msg)

    await publish_stream(stack, stream, prefix)
    runtime = ProjectorRuntime(
        dataclasses.replace(PROJECTOR, apply=broken_apply), stack, schema=schema,
        group_id=f"g-{unique}", topic_prefix=prefix, max_records=batch,
    )  # fmt: skip
    conn = await connect(stack)
    try:
        await runtime.start()
        with pytest.raises(ProjectorBroken, match="participations_v2"):
            await asyncio.wait_for(runtime.run(), timeout=60)
        # The stream's one genuinely bad record (not JSON) may be dead-lettered before the
        # projector meets a record it must apply; no record that reached apply is.
        reasons = await conn.fetch(f'select distinct reason from "{schema}"._deadletters')
        assert {r["reason"] for r in reasons} <= {"invalid_json"}
        # Only records that never reach apply moved on: parked until their owner's claim
        # arrives (applied by the fixed projector then), of types it ignores, or dead.
        moved = await conn.fetchval(
            f'select coalesce(sum(next_offset), 0) from "{schema}"._offsets'
        )
        parked = await conn.fetchval(f'select count(*) from "{schema}"._parked')
        ignored = await conn.fetchval(f'select ignored from "{schema}"._stats')
        dead = await conn.fetchval(f'select count(*) from "{schema}"._deadletters')
        assert moved == parked + ignored + dead
        assert await conn.fetchval(f'select events_applied from "{schema}"._stats') == 0
    finally:
        await runtime.close()
        await conn.close()
