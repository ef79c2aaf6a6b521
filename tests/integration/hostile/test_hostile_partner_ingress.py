"""A hostile partner writing to its own ingress topic: the router refuses every attack, counted.

The hostile-partner suite of the Kafka-direct variant, with everything the hostile
organisation sends (its own legitimate facts, both waves of attacks, the hostile bytes,
its boundary update) written to `tatawwu.ingress.org-hostile` and routed by the
Kafka-ingress router; the honest world goes straight to the canonical topics. The run
(`ingress.ingress_run`, once per module; its docstring gives the order) is shared by the
tests below; each checks one promise. The expected rule of every refusal is derived from
the catalogue (`ingress.router_rule`, `ingress.garbage_rule`). The last test gives the
hostile a real partner principal and shows the broker refusing its attacks written
straight to the (real) canonical topics: the router is the only way in.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import orjson
import pytest
from aiokafka.errors import TopicAuthorizationFailedError
from pydantic import SecretStr

from consumers.router import router_status
from consumers.router.counts import read_counts, schema_for
from infra.db import connect
from infra.kafka import build_producer
from infra.settings import Settings
from schemas.topics import CATALOG, DEADLETTER
from tatawwu.partners import grant_direct_access, revoke_direct_access
from tests.integration.hostile.checks import (
    figure_differences,
    fresh_welcomes,
    honest_rows_not_welcome,
    row_differences,
    welcome,
)
from tests.integration.hostile.ingress import (
    HOSTILE,
    IngressRun,
    garbage_rule,
    ingress_run,
    router_rule,
    unknown_claim_rules,
)
from tests.integration.hostile.platform import Position, dead_letter_topic, dead_letters, parked
from tests.support.principals import eventually_writes
from tests.support.projectors import delete_topics
from tests.support.router import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
CANONICAL = [spec.name for spec in CATALOG if spec is not DEADLETTER]


@pytest.fixture(scope="module")
async def hostile(stack: Settings) -> AsyncIterator[IngressRun]:
    """The world, the routing and the projection, once for the module; its topics deleted
    after (the broker outlives the test session)."""
    run = await ingress_run(stack)
    yield run
    await delete_topics(stack, run.prefix)


@pytest.fixture
async def conn(stack: Settings) -> AsyncIterator[asyncpg.Connection]:
    connection = await connect(stack)
    try:
        yield connection
    finally:
        await connection.close()


def expected_refusals(hostile: IngressRun) -> dict[Position, str]:
    """Every attack and hostile record, where it landed on the ingress topic -> its rule."""
    unknown = unknown_claim_rules([attack for attack, _ in hostile.attacks])
    expected = {position: router_rule(attack, unknown) for attack, position in hostile.attacks}
    expected.update({position: garbage_rule(bad) for bad, position in hostile.garbage})
    assert all(topic == hostile.topic for topic, _, _ in expected)
    assert len(expected) == len(hostile.attacks) + len(hostile.garbage)
    return expected


def identity(document: dict) -> str:
    return f"{document.get('source')} {document.get('id')}"


async def test_honest_figures_equal_the_truth_with_the_hostiles_own_facts_added(
    hostile: IngressRun, conn: asyncpg.Connection
) -> None:
    """Campaigns, opportunities, volunteers, organisations, sectors and the KPI equal the
    simulator's truth of the honest world plus the hostile's own legitimate entities (its
    facts, forwarded by the router, count like anyone's; nothing of its attacks shows)."""
    assert await figure_differences(hostile, conn) == {}


async def test_honest_profiles_owners_and_targets_are_untouched(
    hostile: IngressRun, conn: asyncpg.Connection
) -> None:
    """Every volunteer's profile and consent (directory and notifier's contacts), each
    campaign's owner, targets and end, each opportunity's campaign and capacity, each
    organisation's name and sector are the world's."""
    assert await row_differences(hostile, conn) == {}


async def test_no_notification_for_an_honest_volunteer_comes_from_the_hostile(
    hostile: IngressRun, conn: asyncpg.Connection
) -> None:
    """The only ledger rows for honest volunteers are the welcome messages of the two the
    platform registered just now, and all three fresh volunteers (the hostile's one first,
    under the id of the platform's first registration) get theirs, once each."""
    assert await honest_rows_not_welcome(hostile, conn) == set()
    rows = await fresh_welcomes(hostile, conn)
    assert rows == welcome(hostile.honest_fresh + hostile.hostile_fresh)


async def test_every_attack_and_hostile_record_is_dead_lettered_by_the_router_with_its_rule(
    hostile: IngressRun, conn: asyncpg.Connection, stack: Settings
) -> None:
    """On the dead-letter topic, with projector `router`: exactly the attacks and hostile
    bytes, each under its ingress position (topic, partition, offset) with its rule as
    the error header; the router's dead-letter table lists the same, by reason."""
    expected = expected_refusals(hostile)
    on_topic = await dead_letter_topic(stack, hostile.prefix)
    found = on_topic.get("router", {})
    assert Counter(found.values()) == Counter(expected.values())
    assert found == expected
    listed = await dead_letters(conn, schema_for(hostile.prefix))
    assert {position: reason for position, (reason, _) in listed.items()} == expected


async def test_the_routers_refusals_quote_no_value(
    hostile: IngressRun, conn: asyncpg.Connection
) -> None:
    """A refusal's detail (listed by `tatawwu dlq list`) names the rule and the field, never
    the ids, phones or names the attack was sent with."""
    listed = await dead_letters(conn, schema_for(hostile.prefix))
    quoted = {}
    for attack, position in hostile.attacks:
        detail = listed[position][1]
        values = [v for k, v in attack.doc["data"].items() if isinstance(v, str)
                  and k in ("campaign_id", "opportunity_id", "volunteer_id", "org_id",
                            "phone", "given_name")]  # fmt: skip
        if found := [v for v in values if v in detail]:
            quoted[attack.label] = (detail, found)
    assert quoted == {}


async def test_only_the_hostiles_legitimate_facts_reach_the_canonical_topics(
    hostile: IngressRun, stack: Settings
) -> None:
    """Read committed, the canonical topics hold each of the hostile's own facts once and
    nothing else from its source, and no attack whatever source it gave (the early ones
    reuse honest ids, two speak as honest partners: an event is its source and id)."""
    found = Counter(
        identity(orjson.loads(record.value))
        for record in await read_all(stack, [hostile.prefix + t for t in CANONICAL])
    )
    own = {i: n for i, n in found.items() if i.startswith(f"partner/{HOSTILE} ")}
    assert own == Counter(identity(d) for d in hostile.legit)
    assert {identity(attack.doc) for attack, _ in hostile.attacks} & set(found) == set()


async def test_the_routers_counts_are_the_refusals_by_rule_and_the_legitimate_facts(
    hostile: IngressRun, stack: Settings, conn: asyncpg.Connection
) -> None:
    """`router_status` (what `tatawwu partners status` shows) for the hostile: every record
    routed, accepted = its legitimate facts, refused = the expected refusals per rule."""
    [status] = await router_status(stack, hostile.prefix)
    refused = dict(Counter(expected_refusals(hostile).values()))
    assert status == {
        "org": HOSTILE, "topic": hostile.topic, "exists": True,
        "end_offset": hostile.records, "committed": hostile.records, "lag": 0,
        "accepted": len(hostile.legit), "refused": refused,
    }  # fmt: skip
    counts = await read_counts(conn, schema_for(hostile.prefix))
    assert counts == {HOSTILE: {"accepted": len(hostile.legit), "refused": refused}}


async def test_no_projector_saw_an_attack_and_nothing_stopped(
    hostile: IngressRun, conn: asyncpg.Connection, stack: Settings
) -> None:
    """No projector dead-lettered or parked anything (the attacks never reached them); the
    dead-letter topic holds the router's letters only; every projector ran until asked to
    stop; the router aborted no batch and is ready."""
    for name in hostile.projectors:
        schema = hostile.schemas[name]
        assert await dead_letters(conn, schema) == {}, name
        assert await parked(conn, schema) == {}, name
    assert set(await dead_letter_topic(stack, hostile.prefix)) == {"router"}
    assert hostile.platform.stopped_early == {}
    assert hostile.platform.outcomes == {}
    assert hostile.aborted == 0
    assert hostile.router_unready is None


async def test_as_its_own_principal_the_hostile_cannot_bypass_the_router(
    hostile: IngressRun, stack: Settings
) -> None:
    """Given direct access (its principal and ACLs, as `tatawwu partners add --kafka`), the
    hostile writes to its own (real) ingress topic, but the broker refuses each attack
    written straight to its real canonical topic: the router is its only way in.

    The prefixed topics of the run are not covered by partner ACLs; nothing is written to
    a real canonical topic here (each write is refused), and the ingress topic is deleted.
    """
    org = f"{HOSTILE}-{hostile.prefix.split('.')[1]}"
    access = await asyncio.to_thread(grant_direct_access, stack, org)
    partner = stack.model_copy(update={"kafka_sasl_username": access.principal,
                                       "kafka_sasl_password": SecretStr(access.password)})  # fmt: skip
    producer = build_producer(partner, request_timeout_ms=5000)
    try:
        await producer.start()
        await eventually_writes(producer, access.topic)
        one_per_topic = {attack.topic: attack for attack, _ in hostile.attacks}
        assert len(one_per_topic) == 6, sorted(one_per_topic)
        for topic, attack in one_per_topic.items():
            with pytest.raises(TopicAuthorizationFailedError):
                await producer.send_and_wait(topic, orjson.dumps(attack.doc),
                                             key=attack.doc["subject"].encode())  # fmt: skip
    finally:
        await producer.stop()
        await asyncio.to_thread(revoke_direct_access, stack, org)
        await delete_topics(stack, access.topic)
