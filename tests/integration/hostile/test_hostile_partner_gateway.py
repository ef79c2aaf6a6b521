"""A hostile partner at the gateway: every attack refused with its status and rule, none in Kafka.

The gateway produces to the catalog's own topics (`producers/gateway/emit.py` names no
prefix), so its path is checked at the door: two honest partners (and the platform,
with an admin key) send their worlds through one gateway app; a third partner, the
hostile one, sends its own legitimate facts (accepted), then every attack of `attacks.py`
aimed at the honest entities, one request each, and hostile bodies. Ids are unique per
run: the gateway's claims and the topics are shared.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from infra.settings import Settings
from producers.gateway import create_app
from producers.gateway.partners import add_partner_key
from schemas.topics import CATALOG, DEADLETTER
from tests.integration.hostile.attacks import (
    Attack,
    Expect,
    Garbage,
    attacks,
    first_attacks,
    garbage,
)
from tests.integration.hostile.platform import records_between
from tests.integration.hostile.world import CONFIG
from tests.support.events import event
from tests.support.hostile import HonestView, Partner, partner_world, render
from tests.support.projectors import end_offsets

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
REGISTRY = "platform/registrations"
TOPICS = [spec.name for spec in CATALOG if spec is not DEADLETTER]


@dataclass
class GatewayRun:
    """The answers the gateway gave, and where the topics stood around the attacks."""

    hostile: Partner
    honest: list[Partner]
    answers: list[tuple[Attack, httpx.Response]] = field(default_factory=list)
    garbage: list[tuple[Garbage, httpx.Response]] = field(default_factory=list)
    own: list[httpx.Response] = field(default_factory=list)
    after: list[tuple[dict[str, Any], httpx.Response]] = field(default_factory=list)
    refused_by_rule: Counter[str] = field(default_factory=Counter)
    leaked: list[dict[str, Any]] = field(default_factory=list)
    reached: set[str] = field(default_factory=set)


async def _key(app: Any, org: str, *, admin: bool = False) -> dict[str, str]:
    issued = await add_partner_key(app.state.pool, org, admin=admin)
    return {"Authorization": f"Bearer {issued.key}", "Content-Type": "application/json"}


async def _post(client: httpx.AsyncClient, headers: dict[str, str], body: Any) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return await client.post("/v1/events", content=content, headers=headers)


@pytest.fixture(scope="module")
async def gateway_run(stack: Settings) -> GatewayRun:
    """Honest worlds in, the hostile's own facts in, then every attack; the app stopped after."""
    u = uuid.uuid4().hex[:8]
    honest = [partner_world(CONFIG, f"org-a-{u}", f"a{u}"),
              partner_world(CONFIG, f"org-b-{u}", f"b{u}", registrar=REGISTRY)]  # fmt: skip
    opted_out = honest[1].world.volunteers[1]
    opted_out.consent_changes.append((CONFIG.window_start, {"sms": False, "email": True}))
    honest[1].facts = render(honest[1].world, REGISTRY, honest[1].next_id)
    hostile = partner_world(CONFIG, f"org-x-{u}", f"x{u}")
    view = HonestView.of([doc for p in honest for doc in p.facts])
    run = GatewayRun(hostile, honest)
    app = create_app(stack.model_copy(update={"gateway_key_cache_s": 0.0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            platform = await _key(app, "platform", admin=True)
            keys = {p.source: await _key(app, p.org_id) for p in [*honest, hostile]}
            keys[REGISTRY] = platform
            for partner in honest:
                for source in sorted({d["source"] for d in partner.facts}):
                    docs = [d for d in partner.facts if d["source"] == source]
                    answer = await _post(client, keys[source], docs)
                    assert answer.status_code == 202, answer.text
            run.own.append(await _post(client, keys[hostile.source], hostile.facts))

            before = await end_offsets(stack, TOPICS)
            now = dt.datetime.now(dt.UTC)
            forged = event("campaign.updated", hostile.next_id(), now, source=honest[0].source,
                           campaign_id=honest[0].campaign, target_hours=1)  # fmt: skip
            catalogue = [*first_attacks(view, hostile, now), *attacks(view, hostile, now),
                         Attack("speak as an honest partner", forged,
                                Expect("not_owner", "source", "source"))]  # fmt: skip
            for attack in catalogue:
                run.answers.append((attack, await _post(client, keys[hostile.source], attack.doc)))
            for bad in garbage(hostile.volunteers[0].encode(), hostile):
                if bad.gateway is not None:
                    answer = await _post(client, keys[hostile.source], bad.value or b"")
                    run.garbage.append((bad, answer))
            middle = await end_offsets(stack, TOPICS)

            later = now + dt.timedelta(seconds=1)
            a, b = honest
            after = [
                (a.source, event("volunteer.signed_up", a.next_id(), later, source=a.source,
                                 volunteer_id=b.volunteers[0], opportunity_id=a.opportunity,
                                 campaign_id=a.campaign)),
                (a.source, event("campaign.updated", a.next_id(), later, source=a.source,
                                 campaign_id=a.campaign, target_volunteers=60)),
                (b.source, event("volunteer.checked_in", b.next_id(), later, source=b.source,
                                 volunteer_id=b.volunteers[1], opportunity_id=b.opportunity,
                                 campaign_id=b.campaign, at=later.isoformat())),
                (REGISTRY, event("volunteer.consent_changed", f"c{u}", later, source=REGISTRY,
                                 volunteer_id=a.volunteers[0], consent={"sms": False, "email": False})),
            ]  # fmt: skip
            for source, doc in after:
                run.after.append((doc, await _post(client, keys[source], doc)))
            end = await end_offsets(stack, TOPICS)
            metrics = (await client.get("/metrics")).text
    for family in text_string_to_metric_families(metrics):
        if family.name == "tatawwu_gateway_events_refused":
            run.refused_by_rule = Counter(
                {
                    s.labels["rule"]: int(s.value)
                    for s in family.samples
                    if s.name.endswith("_total")
                }
            )
    run.leaked = [d for d in await records_between(stack, before, middle)
                  if d.get("source") == hostile.source]  # fmt: skip
    run.reached = {
        f"{d.get('source')} {d.get('id')}" for d in await records_between(stack, middle, end)
    }
    return run


async def test_the_hostiles_own_facts_pass(gateway_run: GatewayRun) -> None:
    """Its organisation, campaign, opportunity, volunteers and their participation: 202."""
    [answer] = gateway_run.own
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] == [d["id"] for d in gateway_run.hostile.facts]


async def test_every_attack_is_refused_with_its_status_and_rule(gateway_run: GatewayRun) -> None:
    """Each attack alone in its request: 403 (422 for a time out of bounds), problem+json,
    its rule (and path) in `errors[0]`; a fact nobody could own yet is refused, not parked."""
    wrong = {}
    for attack, answer in gateway_run.answers:
        status, rule = attack.gateway
        body = answer.json()
        got = (answer.status_code, [(e["rule"], e["path"]) for e in body.get("errors", [])])
        path = attack.expect.path if attack.expect else None
        if got[0] != status or [r for r, _ in got[1]] != [rule] or (path and got[1][0][1] != path):
            wrong[attack.label] = (got, (status, rule, path))
        assert answer.headers["content-type"] == "application/problem+json", attack.label
    assert wrong == {}
    assert len(gateway_run.answers) > 80


async def test_hostile_bodies_are_refused_before_any_rule(gateway_run: GatewayRun) -> None:
    """Bad JSON, deep nesting, an empty body, bytes that are not UTF-8, a time out of range
    once in UTC, an unknown type, an oversized event: each has its status, problem type
    and (where the events were read) the rule of its first error."""
    wrong = {}
    for bad, answer in gateway_run.garbage:
        assert bad.gateway is not None
        body = answer.json()
        rule = body["errors"][0]["rule"] if body.get("errors") else None
        got = (answer.status_code, body["code"], rule)
        if got != bad.gateway:
            wrong[bad.label] = (got, bad.gateway)
    assert wrong == {}


async def test_nothing_refused_reached_kafka(gateway_run: GatewayRun) -> None:
    """No record from the hostile's source landed on any topic while it attacked (records
    other writers of the shared topics appended meanwhile are not its own)."""
    assert gateway_run.leaked == []


async def test_refusals_are_counted_by_rule(gateway_run: GatewayRun) -> None:
    """`tatawwu_gateway_events_refused_total{rule=...}` counts every refused attack under its rule
    (and the one hostile body that decodes, a batch holding an event timed in 2099)."""
    expected = Counter(attack.gateway[1] for attack, _ in gateway_run.answers)
    expected.update(
        bad.gateway[2]
        for bad, _ in gateway_run.garbage
        if bad.gateway and bad.gateway[1] == "invalid_time"
    )
    assert gateway_run.refused_by_rule == expected


async def test_honest_partners_still_pass_after_the_attacks(gateway_run: GatewayRun) -> None:
    """A sign-up and a campaign update from one honest partner, a check-in from the other,
    a consent change from the platform: 202, and each is in Kafka."""
    for _doc, answer in gateway_run.after:
        assert answer.status_code == 202, answer.text
    assert {f"{d['source']} {d['id']}" for d, _ in gateway_run.after} <= gateway_run.reached
