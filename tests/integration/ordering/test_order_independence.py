"""Every read model, and the notifier's ledger, is the same whatever order its facts arrive in.

Each example draws a world of valid events (`facts.py`) and
delivers it three times into fresh schemas, through the projector's declared parts as
the runtime calls them: once as one batch, twice shuffled and cut into random batches.
The three must leave identical tables, and delivering one batch a second time (a
redelivery) must change nothing. The known traps (`ties.tie_scenario`) are tried first,
every time. Both run on the stack's database and on an ICU en-US one (conftest.py),
where SQL would break id ties unlike Python without COLLATE "C".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from consumers import campaigns, organizations, participation, volunteers
from consumers.notifications import build_projector
from consumers.runtime import Projector
from infra.settings import Settings
from schemas.envelope import Event
from tests.integration.ordering.deliveries import Run, scenarios
from tests.integration.ordering.replay import (
    Database,
    Schemas,
    Snapshot,
    alert_problems,
    apply_batch,
    difference,
    phantom_promotions,
    snapshot,
)
from tests.integration.ordering.ties import tie_scenario

# A failing example is shrunk for up to five minutes (Hypothesis' own limit): let it finish.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

MODELS: dict[str, Callable[[Settings], Projector]] = {
    "campaigns": lambda _: campaigns.PROJECTOR,
    "volunteers": lambda _: volunteers.PROJECTOR,
    "organizations": lambda _: organizations.PROJECTOR,
    "participation": lambda _: participation.PROJECTOR,
    "notifications": build_projector,  # the enqueue half: contacts, titles, the ledger
}
EXAMPLES = 15


TIES = tie_scenario()


async def deliver(
    db: Database, projector: Projector, events: list[Event[Any]], run: Run
) -> tuple[Snapshot, Snapshot]:
    """The tables after delivering `events` as `run` says, then after one batch redelivered."""
    async with db.connection() as conn:
        schemas = Schemas(conn, "ordering")
        schema = await schemas.fresh(projector)
        try:
            batches = run.batches(events)
            for batch in batches:
                await apply_batch(conn, projector, schema, batch)
            assert not await phantom_promotions(conn, schema)
            assert not await alert_problems(conn, schema)
            tables = await snapshot(conn, schema)
            await apply_batch(conn, projector, schema, batches[run.redeliver % len(batches)])
            assert not await alert_problems(conn, schema)
            return tables, await snapshot(conn, schema)
        finally:
            await schemas.drop(schema)


@pytest.mark.parametrize("model", list(MODELS))
@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=scenarios())
@example(scenario=TIES)
async def test_tables_are_identical_in_any_order_and_batching(
    db: Database,
    stack: Settings,
    model: str,
    scenario: tuple[list[Event[Any]], list[Run]],
) -> None:
    """Three deliveries of the same facts leave the same rows; a redelivered batch changes none."""
    events, runs = scenario
    projector = MODELS[model](stack)
    first: Snapshot | None = None
    for n, run in enumerate(runs):
        tables, redelivered = await deliver(db, projector, events, run)
        assert redelivered == tables, (
            f"redelivering batch {run.redeliver % len(run.batches(events))} changed:\n"
            + difference(tables, redelivered)
        )
        if first is None:
            first = tables
        else:
            assert tables == first, (
                f"delivery {n} (order {run.order}, cuts {run.cuts}) differs from one batch:\n"
                + difference(first, tables)
            )


@settings(max_examples=EXAMPLES, deadline=None)
@given(scenario=scenarios(count=2), swap=st.booleans())
@example(scenario=(TIES[0], TIES[1][1:]), swap=False)
@example(scenario=(TIES[0], TIES[1][1:]), swap=True)
async def test_campaigns_and_organizations_name_the_same_owner(
    db: Database, scenario: tuple[list[Event[Any]], list[Run]], swap: bool
) -> None:
    """Both read models credit a campaign to the organisation of its earliest launch."""
    events, runs = scenario
    orders = runs[::-1] if swap else runs  # which model gets the shuffled delivery
    owners = {}
    for (projector, table), run in zip(
        ((campaigns.PROJECTOR, "campaigns"), (organizations.PROJECTOR, "org_campaigns")),
        orders,
        strict=True,
    ):
        tables, _ = await deliver(db, projector, events, run)
        owners[table] = {
            row["campaign_id"]: row["org_id"]
            for row in map(orjson.loads, tables[table])
            if row["org_id"] is not None
        }
    assert owners["campaigns"] == owners["org_campaigns"]
