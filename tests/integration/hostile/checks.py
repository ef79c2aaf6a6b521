"""What every hostile run is checked for, whichever path the hostile's records took.

Shared by the Kafka-direct variant (`test_hostile_partner_kafka.py`) and the ingress one
(`test_hostile_partner_ingress.py`): the honest figures and rows against the truth, and
the notifier's ledger. Each returns what differs (empty: nothing), so the test asserts.
"""

from __future__ import annotations

from typing import Any, Protocol

import asyncpg

from consumers.notifications.rules import notification_id
from producers.simulator import Simulation
from producers.simulator.model import World
from tests.integration.hostile.world import expected_campaigns, expected_profiles, narrow, plain
from tests.support.truth import compare

READ_MODELS = ("campaigns", "volunteers", "organizations", "participation")
PROFILE_KEYS = ("given_name", "family_name", "phone", "email", "language", "municipality",
                "birth_year", "gender", "nationality_group", "consent", "status")  # fmt: skip
CONTACT_KEYS = ("given_name", "phone", "email", "language", "consent", "status")


class Run(Protocol):
    """What a hostile run projected, and the world it must show."""

    schemas: dict[str, str]
    simulation: Simulation
    world: World
    truth: dict[str, Any]
    honest_fresh: list[dict[str, Any]]
    hostile_fresh: list[dict[str, Any]]


async def figure_differences(run: Run, conn: asyncpg.Connection) -> dict[str, Any]:
    """`compare`'s mismatches of the four read models and the KPI with the truth."""
    schemas = {name: run.schemas[name] for name in READ_MODELS}
    return narrow(await compare(conn, schemas, run.truth))


async def row_differences(run: Run, conn: asyncpg.Connection) -> dict[str, Any]:
    """What `compare` does not look at, per table: every volunteer's profile and consent (in
    the directory and in the notifier's contacts), each campaign's owner, targets and end,
    each opportunity's campaign and capacity, each organisation's name and sector."""
    wrong: dict[str, Any] = {}
    profiles = expected_profiles(run.world)
    for schema, table, keys in (
        (run.schemas["volunteers"], "volunteers", PROFILE_KEYS),
        (run.schemas["notifications"], "contacts", CONTACT_KEYS),
    ):
        rows = await conn.fetch(f'select * from "{schema}".{table}')
        actual = {r["volunteer_id"]: plain(r, keys) for r in rows}
        expected = {v: {k: p[k] for k in keys} for v, p in profiles.items()}
        if actual != expected:
            ids = set(actual) | set(expected)
            wrong[table] = {v: (actual.get(v), expected.get(v)) for v in ids
                            if actual.get(v) != expected.get(v)}  # fmt: skip
    c = run.schemas["campaigns"]
    campaigns = {r["campaign_id"]: plain(r, ("org_id", "target_volunteers", "target_hours",
                                               "ends_on", "status"))
                 for r in await conn.fetch(f'select * from "{c}".campaigns')}  # fmt: skip
    if campaigns != (owned := expected_campaigns(run.world)):
        wrong["campaigns"] = narrow({"c": (campaigns, owned)})["c"]
    opportunities = {r["opportunity_id"]: (r["campaign_id"], r["capacity"]) for r in
                     await conn.fetch(f'select * from "{c}".opportunities')}  # fmt: skip
    expected_opportunities = {o.opportunity_id: (o.campaign_id, o.capacity)
                              for o in run.world.opportunities}  # fmt: skip
    if opportunities != expected_opportunities:
        wrong["opportunities"] = narrow({"o": (opportunities, expected_opportunities)})["o"]
    o = run.schemas["organizations"]
    orgs = {r["org_id"]: (r["name_en"], r["sector"], r["status"])
            for r in await conn.fetch(f'select * from "{o}".organizations')}  # fmt: skip
    expected_orgs = {g.org_id: (g.name_en, g.sector, g.status) for g in run.world.orgs}
    if orgs != expected_orgs:
        wrong["organizations"] = narrow({"o": (orgs, expected_orgs)})["o"]
    return wrong


async def ledger(run: Run, conn: asyncpg.Connection) -> set[tuple[str, ...]]:
    """(notification id, volunteer, cause event id, template, channel) of every ledger row."""
    schema = run.schemas["notifications"]
    rows = await conn.fetch(
        "select notification_id, volunteer_id, cause_event_id, template, channel"
        f' from "{schema}".outbox'
    )
    return {tuple(r) for r in rows}


def welcome(docs: list[dict[str, Any]]) -> set[tuple[str, ...]]:
    """The ledger rows of these registrations' welcome messages (email and SMS)."""
    return {
        (notification_id(f"{d['source']} {d['id']}", "welcome", channel),
         d["data"]["volunteer_id"], d["id"], "welcome", channel)
        for d in docs for channel in ("email", "sms")
    }  # fmt: skip


async def honest_rows_not_welcome(run: Run, conn: asyncpg.Connection) -> set[tuple[str, ...]]:
    """Ledger rows for honest volunteers other than the two fresh ones' welcome messages:
    every attack on an honest volunteer is timed now (not too old to notify), so any row
    here was caused by a hostile event."""
    honest = {v.volunteer_id for v in run.simulation.world.volunteers} | {
        d["data"]["volunteer_id"] for d in run.honest_fresh
    }
    rows = {r for r in await ledger(run, conn) if r[1] in honest}
    return rows - welcome(run.honest_fresh)


async def fresh_welcomes(run: Run, conn: asyncpg.Connection) -> set[tuple[str, ...]]:
    """The ledger rows of the three volunteers registered just now (two by the platform,
    one by the hostile under the id of the platform's first registration)."""
    volunteers = {d["data"]["volunteer_id"] for d in run.honest_fresh + run.hostile_fresh}
    return {r for r in await ledger(run, conn) if r[1] in volunteers}
