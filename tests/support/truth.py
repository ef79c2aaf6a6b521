"""Compare every read model in PostgreSQL with the simulator's ground truth."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import asyncpg

from consumers.participation import lookup
from consumers.participation.coverage import ZONE, end_of
from consumers.participation.scan import participation_kpi

CAMPAIGN_KEYS = ("signups", "withdrawals", "check_ins", "no_shows", "verified_hours",
                 "volunteers_attended", "status")  # fmt: skip
OPPORTUNITY_KEYS = ("signups", "withdrawals", "check_ins", "no_shows", "verified_hours",
                    "waitlisted", "capacity", "status")  # fmt: skip
VOLUNTEER_KEYS = (
    "signups",
    "attended",
    "verified_hours",
    "no_shows",
    "first_activity",
    "last_activity",
)
ORG_KEYS = ("sector", "status", "campaigns", "volunteers_engaged", "verified_hours")
SECTOR_KEYS = ("organizations", "campaigns", "volunteers_engaged", "verified_hours")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value


def _pick(rows: dict[str, dict[str, Any]], keys: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return {i: {k: _plain(r[k]) for k in keys} for i, r in rows.items()}


async def _rows(conn: asyncpg.Connection, sql: str, key: str) -> dict[str, dict[str, Any]]:
    return {r[key]: dict(r) for r in await conn.fetch(sql)}


def projection_days(as_of: dt.datetime) -> list[dt.date]:
    """Qatar days on which the projection is compared with the scan: the day of `as_of`,
    the one before, and one 200 days earlier."""
    day = as_of.astimezone(ZONE).date()
    return [day - dt.timedelta(days=n) for n in (0, 1, 200)]


async def compare(
    conn: asyncpg.Connection, schemas: dict[str, str], truth: dict[str, Any]
) -> dict[str, Any]:
    """A dict of (read model -> (actual, expected)) for every mismatch; empty when all equal."""
    diffs: dict[str, Any] = {}

    def check(name: str, actual: Any, expected: Any) -> None:
        if actual != expected:
            diffs[name] = (actual, expected)

    c = schemas["campaigns"]
    check("campaigns", _pick(await _rows(conn, f'select * from "{c}".campaign_stats', "campaign_id"), CAMPAIGN_KEYS),
          _pick(truth["campaigns"], CAMPAIGN_KEYS))  # fmt: skip
    check("opportunities", _pick(await _rows(conn, f'select * from "{c}".opportunity_stats', "opportunity_id"), OPPORTUNITY_KEYS),
          _pick(truth["opportunities"], OPPORTUNITY_KEYS))  # fmt: skip
    v = schemas["volunteers"]
    check("volunteers", _pick(await _rows(conn, f'select * from "{v}".volunteer_totals', "volunteer_id"), VOLUNTEER_KEYS),
          _pick(truth["volunteers"]["by_id"], VOLUNTEER_KEYS))  # fmt: skip
    check("volunteers.registered",
          await conn.fetchval(f"""select count(*) from "{v}".volunteers where status = 'registered'"""),
          truth["volunteers"]["totals"]["registered"])  # fmt: skip
    o = schemas["organizations"]
    check("organizations", _pick(await _rows(conn, f'select * from "{o}".organization_stats', "org_id"), ORG_KEYS),
          _pick(truth["organizations"]["by_id"], ORG_KEYS))  # fmt: skip
    check("sectors", _pick(await _rows(conn, f'select * from "{o}".sector_stats', "sector"), SECTOR_KEYS),
          _pick(truth["organizations"]["by_sector"], SECTOR_KEYS))  # fmt: skip
    p = schemas["participation"]
    expected = truth["participation"]
    as_of = dt.datetime.fromisoformat(expected["as_of"].replace("Z", "+00:00"))
    await conn.execute(f'set search_path to "{p}"')
    try:
        kpi = await participation_kpi(conn, as_of)
        for day in projection_days(as_of):  # the KPI projection answers as the scan does
            check(f"participation.projection.{day}", await lookup.participation_kpi(conn, day),
                  await participation_kpi(conn, end_of(day)))  # fmt: skip
    finally:
        await conn.execute("reset search_path")
    check("participation.active", kpi["national"]["active"], expected["active"])
    for dimension, counts in expected["by"].items():
        actual = {k: v["active"] for k, v in kpi["breakdowns"][dimension].items() if v["active"]}
        check(f"participation.{dimension}", actual, counts)
    check("participation.hours", kpi["hours"]["verified_total"], expected["verified_hours_total"])
    check(
        "participation.hours_12m",
        kpi["hours"]["verified_trailing_12m"],
        expected["verified_hours_trailing_12m"],
    )
    check("participation.monthly", [{"month": m["month"], "active": m["active"]} for m in kpi["monthly"]],
          expected["monthly"])  # fmt: skip
    return diffs


def expected_dead_letters(truth: dict[str, Any], topics: tuple[str, ...]) -> int:
    """How many invalid records the simulator put on these (unprefixed) topics."""
    return sum(n for topic, n in truth["stream"]["invalid"].items() if topic in topics)
