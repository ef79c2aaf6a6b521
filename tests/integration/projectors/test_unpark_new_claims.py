"""Parked facts are freed by the claims made since a projector last looked, not by
joining every parked fact to the whole registry on every batch (`bookkeeping.unpark`,
`infra.claims.claims_mark`), and no claim slips between two looks: one made by a
transaction still open when a batch began is found by the next batch."""

from __future__ import annotations

import asyncpg
import orjson
import pytest

from consumers.runtime import bookkeeping, prepare_schema
from infra.claims import claims_mark, ensure_registry, store_claims
from infra.db import connect
from infra.settings import Settings
from tatawwu.manifest import PROJECTORS

pytestmark = [pytest.mark.postgres]


async def park(conn: asyncpg.Connection, offset: int, needs: str) -> None:
    """A fact waiting for the opportunity `needs` (as the gate parks one)."""
    await bookkeeping.park(
        conn, [("t", 0, offset, "opportunity", needs, f"partner/x evt-{offset}", {"o": offset})]
    )


def offsets(records: list[object]) -> list[int]:
    return sorted(orjson.loads(r)["o"] if isinstance(r, str) else r["o"] for r in records)  # type: ignore[index]


async def test_only_claims_made_since_the_last_look_free_parked_facts(
    stack: Settings, unique: str
) -> None:
    schema, registry = f"unpark_{unique}", f"ownership_unpark_{unique}"
    projector, claimer = await connect(stack), await connect(stack)
    try:
        await prepare_schema(projector, PROJECTORS["campaigns"], schema)
        await ensure_registry(projector, registry)
        await projector.execute(f'set search_path to "{schema}"')
        # A claim made long ago, and a fact parked for it (a batch would have read the
        # claim instead; a fact parked by a process that died before freeing it): a look
        # at the claims made after it does not find it, a full look does.
        await store_claims(claimer, registry, {("opportunity", "opp-old"): "org-a"})
        old = int(await claimer.fetchval(f'select made_in::text from "{registry}".claims'))
        await park(projector, 1, "opp-old")
        assert await bookkeeping.unpark(projector, registry, old + 1) == []
        assert offsets(await bookkeeping.unpark(projector, registry, None)) == [1]
        # A batch begins (its mark) while another transaction is making a claim it cannot
        # see yet; the batch parks a fact for that claim and commits before the claim.
        await claimer.execute("begin")
        await store_claims(claimer, registry, {("opportunity", "opp-new"): "org-a"})
        making = int(await claimer.fetchval("select pg_current_xact_id()::text"))
        async with projector.transaction():
            mark = await claims_mark(projector)
            await park(projector, 2, "opp-new")
            assert await bookkeeping.unpark(projector, registry, mark) == []  # not visible yet
        await claimer.execute("commit")
        assert mark <= making
        async with projector.transaction():
            freed = await bookkeeping.unpark(projector, registry, mark)
        assert offsets(freed) == [2]  # the claim in flight at the batch's start: found
        assert await projector.fetchval("select count(*) from _parked") == 0
    finally:
        await projector.execute(f'drop schema if exists "{schema}" cascade')
        await projector.execute(f'drop schema if exists "{registry}" cascade')
        await projector.close()
        await claimer.close()


async def test_the_incremental_look_reads_the_new_claims_not_the_parked_facts(
    stack: Settings, unique: str
) -> None:
    """Thousands of facts parked for claims that never come: the look for new claims plans
    through the registry's `made_in` index and `_parked`'s needs, never a scan of either."""
    schema, registry = f"unpark_plan_{unique}", f"ownership_unpark_plan_{unique}"
    conn = await connect(stack)
    try:
        await prepare_schema(conn, PROJECTORS["campaigns"], schema)
        await ensure_registry(conn, registry)
        await conn.execute(f'set search_path to "{schema}"')
        rows = [("t", 0, n, "opportunity", f"opp-never-{n}", f"partner/x evt-{n}", {"o": n})
                for n in range(20_000)]  # fmt: skip
        await bookkeeping.park(conn, rows)
        await store_claims(
            conn, registry, {("opportunity", f"opp-{n}"): "org-a" for n in range(20_000)}
        )
        await conn.execute(f'analyze _parked; analyze "{registry}".claims')
        mark = await claims_mark(conn)
        plan = "\n".join(
            r[0]
            for r in await conn.fetch(
                f'explain delete from _parked p using "{registry}".claims c'
                " where c.kind = p.needs_kind and c.id = p.needs_id"
                " and c.made_in >= $1::text::xid8 returning p.record",
                str(mark),
            )
        )
        assert "Seq Scan" not in plan, plan
        assert "claims_made_in" in plan, plan
    finally:
        await conn.execute(f'drop schema if exists "{schema}" cascade')
        await conn.execute(f'drop schema if exists "{registry}" cascade')
        await conn.close()
