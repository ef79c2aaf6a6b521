"""A hostile partner writing straight to Kafka: honest figures stay true, every attack is refused.

One simulated national world (the honest partners) and one extra organisation,
`org-hostile`, that publishes with its own honest `source` every attack of `attacks.py`
against the honest world's real entities, some of them (and its own facts) before the
honest stream and under the ids of honest events. The run (`world.hostile_run`, once per
module) is shared by the tests below; each checks one promise.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest

from infra.claims import read_claims, registry_schema
from infra.db import connect
from infra.settings import Settings
from tests.integration.hostile.attacks import judges
from tests.integration.hostile.checks import (
    figure_differences,
    fresh_welcomes,
    honest_rows_not_welcome,
    row_differences,
    welcome,
)
from tests.integration.hostile.platform import (
    dead_letter_topic,
    dead_letters,
    expected_dead_letters,
    judgement,
    parked,
)
from tests.integration.hostile.world import HostileRun, hostile_run

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
async def hostile(stack: Settings) -> HostileRun:
    """The world, the attacks and the projection, once for the module."""
    return await hostile_run(stack)


@pytest.fixture
async def conn(stack: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(stack)
    try:
        yield connection
    finally:
        await connection.close()


async def test_no_projector_stopped_whatever_the_hostile_sent(hostile: HostileRun) -> None:
    """Every runtime ran until it was asked to stop, and stopped without an exception."""
    assert hostile.platform.stopped_early == {}
    assert hostile.platform.outcomes == {}


async def test_honest_figures_equal_the_truth_with_the_hostiles_own_facts_added(
    hostile: HostileRun, conn: asyncpg.Connection
) -> None:
    """Campaigns, opportunities, volunteers, organisations, sectors and the KPI equal the
    simulator's truth of the honest world plus the hostile's own legitimate entities.

    The hostile's own organisation, campaign, opportunity, volunteers and participations
    are added to the simulator's world model and its `ground_truth` recomputed, so sector
    totals and every KPI cell (its volunteers live in al_khor, doha and al_rayyan) are
    exact, not adjusted by hand; nothing of its attacks may show.
    """
    assert await figure_differences(hostile, conn) == {}


async def test_honest_profiles_owners_and_targets_are_untouched(
    hostile: HostileRun, conn: asyncpg.Connection
) -> None:
    """What `compare` does not look at: every volunteer's profile and consent (in the
    directory and in the notifier's contacts), each campaign's owner, targets and end,
    each opportunity's campaign and capacity, each organisation's name and sector."""
    assert await row_differences(hostile, conn) == {}


async def test_every_attack_is_dead_lettered_by_each_projector_that_judges_it(
    hostile: HostileRun, conn: asyncpg.Connection, stack: Settings
) -> None:
    """Per projector: exactly the attacks it judges (the types it handles, and claim-making
    ones) and the hostile bytes on its topics are dead letters, each with the expected
    reason and, for refusals, `<rule> at <path>` in its detail; the same records are on the
    prefixed dead-letter topic; no honest record is among them."""
    on_topic = await dead_letter_topic(stack, hostile.prefix)
    for name, projector in hostile.projectors.items():
        schema = hostile.schemas[name]
        found = await dead_letters(conn, schema)
        expected = expected_dead_letters(
            projector, hostile.prefix, hostile.attacks, hostile.garbage
        )
        actual = {position: judgement(*found[position]) for position in found}
        rules = Counter(j[1] or j[0] for j in actual.values())
        assert rules == Counter(j[1] or j[0] for j in expected.values()), name
        assert actual == expected, name
        for bad, position in hostile.garbage:
            if position in found:
                assert bad.fragment in found[position][1], (name, bad.label, found[position])
        assert on_topic.get(name, {}) == {p: reason for p, (reason, _) in found.items()}, name
        stats = await conn.fetchval(f'select dead_lettered from "{schema}"._stats')
        assert stats == len(found), name


async def test_refusal_details_quote_no_value(
    hostile: HostileRun, conn: asyncpg.Connection
) -> None:
    """A refusal names the rule and the field, never the ids, phones or names it was sent."""
    for name in hostile.projectors:
        found = await dead_letters(conn, hostile.schemas[name])
        for attack, position in hostile.attacks:
            if position not in found:
                continue
            detail = found[position][1]
            values = [v for k, v in attack.doc["data"].items() if isinstance(v, str)
                      and k in ("campaign_id", "opportunity_id", "volunteer_id", "org_id",
                                "phone", "given_name")]  # fmt: skip
            assert not [v for v in values if v in detail], (name, attack.label, detail)


async def test_only_facts_whose_claim_never_came_stay_parked(
    hostile: HostileRun, conn: asyncpg.Connection
) -> None:
    """What remains in `_parked` is exactly the hostile's facts about entities nobody ever
    created (an opportunity nobody published, a volunteer nobody registered, a campaign
    nobody launched), in each projector that judges them; every attack that waited for an
    honest claim was judged (and refused) once it came; no honest fact stays parked."""
    for name, projector in hostile.projectors.items():
        schema = hostile.schemas[name]
        expected = {
            position: (attack.parks_on[0], attack.parks_on[1], f"{attack.doc['source']} {attack.doc['id']}")
            for attack, position in hostile.attacks
            if attack.parks_on is not None and judges(projector, attack.type)
        }  # fmt: skip
        assert await parked(conn, schema) == expected, name
        # A claim already in the registry would have freed them: none was made.
        registry = registry_schema(hostile.prefix)
        needs = [(kind, id_) for kind, id_, _ in expected.values()]
        assert await read_claims(conn, registry, needs) == {}, name


async def test_no_ledger_row_for_an_honest_volunteer_comes_from_a_hostile_event(
    hostile: HostileRun, conn: asyncpg.Connection
) -> None:
    """Every attack on an honest volunteer is timed now (not too old to notify), yet the
    only ledger rows for honest volunteers are the welcome messages of the two the platform
    registered just now: none was caused by a hostile event."""
    assert await honest_rows_not_welcome(hostile, conn) == set()


async def test_an_id_used_first_by_the_hostile_does_not_cost_an_honest_welcome(
    hostile: HostileRun, conn: asyncpg.Connection
) -> None:
    """The hostile registers its own volunteer first (same partition, read first), under the
    id the platform then uses for its own registration: another source, another event. All
    three volunteers registered just now get their welcome messages, once each."""
    rows = await fresh_welcomes(hostile, conn)
    assert welcome(hostile.honest_fresh) - rows == set()  # the honest ones, first
    assert rows == welcome(hostile.honest_fresh + hostile.hostile_fresh)
