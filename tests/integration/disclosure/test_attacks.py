"""The differencing attacks of issue 13 against the disclosure policy (DISCLOSURE.md).

Each test plays one attack with the public endpoints only, on the small world of
conftest.py (k = 10), and checks that no withheld count can be read from what is shown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import httpx
import pytest

from consumers.api.dashboard_sql import create_dashboard_views
from infra.db import connect
from schemas.common import Municipality
from tests.integration.disclosure.conftest import K, Tiny

pytestmark = [pytest.mark.postgres]
MUNICIPALITIES = [m.value for m in Municipality]
DIMENSIONS = ("gender", "age_band", "nationality_group")


async def documents(api: httpx.AsyncClient, day: dt.date) -> dict[str | None, dict[str, Any]]:
    """The national KPI and the KPI under every municipality filter, for one day."""
    docs = {}
    for m in [None, *MUNICIPALITIES]:
        params = {"as_of": day.isoformat()} | ({"municipality": m} if m else {})
        response = await api.get("/v1/kpi/participation", params=params)
        assert response.status_code == 200, response.text
        docs[m] = response.json()
    return docs


def pinned(total: int, shown: list[int | None]) -> bool:
    """True when subtraction (and "a withheld count is at least 1") fixes a withheld cell:
    one withheld cell, or withheld cells that can only all be 1."""
    hidden = sum(1 for v in shown if v is None)
    rest = total - sum(v for v in shown if v is not None)
    return hidden == 1 or (hidden > 1 and rest <= hidden)


def assert_unpinned(total: int | None, cells: list[int | None], where: str) -> None:
    if total is not None and any(v is None for v in cells):
        assert not pinned(total, cells), f"{where}: a withheld cell is total minus the rest"


async def test_an_instant_is_refused_and_today_does_not_move_within_the_day(tiny: Tiny) -> None:
    """Two moments a second apart cannot be asked for, and today's figures stay put while a
    volunteer checks in: nothing to subtract within a day."""
    async with tiny.api() as api:
        for bad in (f"{tiny.day}T10:00:00Z", f"{tiny.day}T10:00:01+03:00", "2999-01-01",
                    "yesterday", "2026-02-30"):  # fmt: skip
            response = await api.get("/v1/kpi/participation", params={"as_of": bad})
            assert response.status_code == 422, (bad, response.text)
            problem = response.json()
            assert problem["code"] == "invalid_request"
            assert problem["errors"][0]["path"] == "query.as_of"
            assert "as_of" in problem["detail"]
        before = (await api.get("/v1/kpi/participation")).json()
    now = dt.datetime.now(dt.UTC)
    await tiny.add("q", ("doha", "male", tiny.day.year - 30, "resident"), now)
    await asyncio.sleep(1.1)  # past the single-flight memo
    async with tiny.api() as api:
        after = (await api.get("/v1/kpi/participation")).json()
        with_q = (await api.get("/v1/kpi/participation", params={"as_of": str(tiny.day)})).json()
    assert after == before
    assert after["data_through"] < after["as_of"]
    assert with_q["as_of"] == str(tiny.day)


async def test_adjacent_days_do_not_place_the_volunteer_who_joined(tiny: Tiny) -> None:
    """p (al_shamal) first becomes active on D+1: D and D+1, nationally and under every
    filter, show no change in any published municipality count, and al_shamal's row is
    withheld on both days, so the difference lands in a withheld group of two or more."""
    d1 = tiny.day + dt.timedelta(days=1)
    async with tiny.api(k=1) as api:
        truth = {tiny.day: await documents(api, tiny.day), d1: await documents(api, d1)}
    async with tiny.api() as api:
        shown = {tiny.day: await documents(api, tiny.day), d1: await documents(api, d1)}
    t0, t1 = (truth[d][None]["national"]["active"] for d in (tiny.day, d1))
    assert t1 == t0 + 1, "the scenario: exactly one volunteer joined on D+1"
    before, after = (shown[d][None]["breakdowns"]["municipality"] for d in (tiny.day, d1))
    changed = [m for m in after if not after[m]["suppressed"] and not before[m]["suppressed"]
               and after[m]["active"] != before[m]["active"]]  # fmt: skip
    assert changed == []
    assert after["al_shamal"]["suppressed"]
    assert before["al_shamal"]["suppressed"]
    assert sum(c["suppressed"] for c in after.values()) >= 2
    for day in (tiny.day, d1):
        doc = shown[day]["al_shamal"]
        counts = [doc["national"]["active"], *(m["active"] for m in doc["monthly"])]
        counts += [c["active"] for cells in doc["breakdowns"].values() for c in cells.values()]
        assert set(counts) <= {None, 0}, f"al_shamal on {day}: {counts}"
        assert doc["hours"]["verified_total"] is None


async def test_no_withheld_cell_is_a_total_minus_the_published_cells(tiny: Tiny) -> None:
    """In every document, every breakdown against its total leaves each withheld cell open
    (two or more withheld, and not all forced to 1)."""
    d1 = tiny.day + dt.timedelta(days=1)
    async with tiny.api() as api:
        docs = await documents(api, d1)
    assert any(c["suppressed"] for c in docs[None]["breakdowns"]["age_band"].values())
    for m, doc in docs.items():
        total = doc["national"]["active"]
        for dimension, cells in doc["breakdowns"].items():
            assert_unpinned(total, [c["active"] for c in cells.values()], f"{m}/{dimension}")
        if doc["monthly"]:
            last = doc["monthly"][-1]["active"]
            assert (last is None) == (total is None), f"{m}: last month vs total"


async def test_a_municipality_filter_does_not_reveal_a_national_cell(tiny: Tiny) -> None:
    """A national cell minus the same cell under every filter leaves each withheld one open,
    for every dimension value, for the municipality totals and for every month."""
    d1 = tiny.day + dt.timedelta(days=1)
    async with tiny.api() as api:
        docs = await documents(api, d1)
    national = docs[None]
    for dimension in DIMENSIONS:
        for value, cell in national["breakdowns"][dimension].items():
            parts = [docs[m]["breakdowns"][dimension].get(value, {}).get("active", 0)
                     for m in MUNICIPALITIES]  # fmt: skip
            assert_unpinned(cell["active"], parts, f"{dimension}={value}")
    totals = [docs[m]["national"]["active"] for m in MUNICIPALITIES]
    assert totals == [national["breakdowns"]["municipality"].get(m, {}).get("active", 0)
                      for m in MUNICIPALITIES]  # fmt: skip
    assert_unpinned(national["national"]["active"], totals, "municipality totals")
    for i, month in enumerate(national["monthly"]):
        parts = [next((x["active"] for x in docs[m]["monthly"] if x["month"] == month["month"]), 0)
                 for m in MUNICIPALITIES]  # fmt: skip
        assert_unpinned(month["active"], parts, f"month {i}")
    hours = [docs[m]["hours"]["verified_total"] for m in MUNICIPALITIES]
    if any(h is None for h in hours):
        assert sum(h is None for h in hours) >= 2, "one withheld municipality's hours"


async def test_recent_activity_publishes_no_count_below_k(tiny: Tiny) -> None:
    """Hourly buckets only; p's lone check-in sits in a withheld bucket and the day's total
    is withheld with it; a busy hour is shown."""
    d1 = tiny.day + dt.timedelta(days=1)
    async with tiny.api() as api:
        refused = await api.get("/v1/activity/recent", params={"as_of": f"{d1}T10:00:00Z"})
        quiet = (await api.get("/v1/activity/recent", params={"as_of": str(d1)})).json()
        busy_day = str(tiny.day - dt.timedelta(days=10))
        busy = (await api.get("/v1/activity/recent", params={"as_of": busy_day})).json()
    assert refused.status_code == 422
    for doc in (quiet, busy):
        assert doc["bucket_minutes"] >= 60
        assert not [
            b for b in doc["buckets"] if b["check_ins"] is not None and 0 < b["check_ins"] < K
        ]
    p_hour = tiny.at(d1, 10).astimezone(dt.UTC)
    bucket = next(b for b in quiet["buckets"] if dt.datetime.fromisoformat(b["start"]) == p_hour)
    assert bucket == {**bucket, "check_ins": None, "suppressed": True}
    assert quiet["check_ins"] is None
    assert busy["check_ins"] == sum(b["check_ins"] for b in busy["buckets"]) > K


async def test_the_bi_views_withhold_exactly_what_the_api_withholds(
    tiny: Tiny, unique: str
) -> None:
    """The `dashboard` views show today's national document cell for cell (so reading them
    beside the API's filters is no new subtraction) and no hourly count below k."""
    schema = f"dash_{unique}"
    conn = await connect(tiny.settings)
    try:
        await create_dashboard_views(conn, {"participation": tiny.schema}, dashboard=schema, k=K)
        national = await conn.fetchrow(f'select * from "{schema}".participation_national')
        cells = await conn.fetch(f'select * from "{schema}".participation_by_dimension')
        hourly = await conn.fetch(f'select * from "{schema}".check_ins_hourly')
    finally:
        await conn.execute(f'drop schema "{schema}" cascade')
        await conn.close()
    async with tiny.api() as api:
        doc = (await api.get("/v1/kpi/participation")).json()
    assert (national["active"], national["suppressed"]) == (
        doc["national"]["active"], doc["national"]["suppressed"])  # fmt: skip
    served = {(r["dimension"], r["value"]): (r["active"], r["suppressed"]) for r in cells}
    assert served == {(d, v): (c["active"], c["suppressed"])
                      for d, vs in doc["breakdowns"].items() for v, c in vs.items()}  # fmt: skip
    assert any(s for _, s in served.values())
    assert not [r for r in hourly if r["check_ins"] is not None and r["check_ins"] < K]
