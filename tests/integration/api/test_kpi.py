"""The participation KPI endpoint against the simulator's ground truth."""

from __future__ import annotations

from collections import defaultdict

import pytest

from consumers.participation import read_population
from tests.integration.api.conftest import ApiFactory
from tests.integration.api.world import ProjectedWorld

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def population_by(dimension: str, municipality: str | None = None) -> dict[str, int]:
    """Eligible population per value of a dimension, from the shipped CSV."""
    index = {"municipality": 0, "gender": 1, "age_band": 2, "nationality_group": 3}[dimension]
    totals: dict[str, int] = defaultdict(int)
    for row in read_population():
        if municipality is None or row[0] == municipality:
            totals[row[index]] += row[4]
    return dict(totals)


async def test_every_kpi_number_equals_the_ground_truth(
    make_api: ApiFactory, world: ProjectedWorld
) -> None:
    """With k = 1 nothing is withheld: national, breakdowns, monthly and hours equal the truth."""
    truth = world.truth["participation"]
    async with make_api(api_min_cell=1, api_hourly_rate_qar=40.0) as api:
        response = await api.get("/v1/kpi/participation", params={"as_of": world.as_of})
    assert response.status_code == 200, response.text
    kpi = response.json()
    population = sum(population_by("gender").values())
    assert kpi["national"] == {
        "active": truth["active"], "population": population,
        "rate": round(truth["active"] / population, 6), "suppressed": False,
    }  # fmt: skip
    for dimension, expected in truth["by"].items():
        served = kpi["breakdowns"][dimension]
        assert {v: c["active"] for v, c in served.items() if c["active"]} == {
            v: n for v, n in expected.items() if n
        }, dimension
        pops = population_by(dimension)
        assert {v: c["population"] for v, c in served.items()} == pops | {
            v: 0 for v in served if v not in pops
        }
    served = [(m["month"], m["active"]) for m in kpi["monthly"]]
    expected = [(m["month"], m["active"]) for m in truth["monthly"]]
    if len(served) == len(expected) + 1:  # as_of is the 1st of a month: one more point, same count
        assert served[-1][1] == served[-2][1]
        served = served[:-1]
    assert served == expected
    assert kpi["hours"]["verified_total"] == truth["verified_hours_total"]
    assert kpi["hours"]["verified_trailing_12m"] == truth["verified_hours_trailing_12m"]
    assert kpi["hours"]["economic_value"] == round(truth["verified_hours_total"] * 40.0, 2)
    trajectory = kpi["trajectory"]
    assert trajectory["target_rate"] == 0.10
    assert trajectory["target_date"] == "2030-12-31"
    assert trajectory["path"][-1]["month"] == "2030-12"
    assert trajectory["path"][-1]["rate"] == pytest.approx(0.10, rel=1e-3)


async def test_the_municipality_filter_counts_only_that_municipality(
    make_api: ApiFactory, world: ProjectedWorld
) -> None:
    """?municipality=doha gives Doha's active volunteers over Doha's population."""
    truth = world.truth["participation"]["by"]
    async with make_api(api_min_cell=1) as api:
        kpi = (
            await api.get(
                "/v1/kpi/participation", params={"as_of": world.as_of, "municipality": "doha"}
            )
        ).json()
    assert kpi["municipality"] == "doha"
    assert kpi["national"]["active"] == truth["municipality"]["doha"]
    assert kpi["national"]["population"] == population_by("municipality")["doha"]
    assert set(kpi["breakdowns"]["municipality"]) == {"doha"}
    assert (
        sum(c["active"] for c in kpi["breakdowns"]["gender"].values())
        == truth["municipality"]["doha"]
    )


async def test_small_cells_are_withheld_and_cannot_be_recovered_by_subtraction(
    make_api: ApiFactory, world: ProjectedWorld
) -> None:
    """With k = 60 every count of 1..59 is null and suppressed; no dimension hides one cell alone."""
    k = 60
    truth = world.truth["participation"]["by"]
    async with make_api(api_min_cell=k) as api:
        kpi = (await api.get("/v1/kpi/participation", params={"as_of": world.as_of})).json()
    assert kpi["min_cell"] == k
    hidden_somewhere = False
    for dimension, expected in truth.items():
        served = kpi["breakdowns"][dimension]
        hidden = {v for v, c in served.items() if c["suppressed"]}
        hidden_somewhere |= bool(hidden)
        assert len(hidden) != 1, f"{dimension}: one withheld cell is the total minus the rest"
        held = sum(expected.get(v, 0) for v in hidden)
        assert not hidden or held >= k, f"{dimension}: withheld cells add up to under k"
        for value, n in expected.items():
            cell = served[value]
            if 0 < n < k:
                assert cell == {**cell, "active": None, "rate": None, "suppressed": True}
            elif not cell["suppressed"]:
                assert cell["active"] == n
    assert hidden_somewhere, "the simulation should have some small cells at k = 60"


async def test_a_small_municipality_is_withheld_whole(
    make_api: ApiFactory, world: ProjectedWorld
) -> None:
    """Filtered to a municipality with fewer than k volunteers: total, months and rate are null."""
    by_municipality = world.truth["participation"]["by"]["municipality"]
    smallest = min((n, m) for m, n in by_municipality.items() if n > 0)
    async with make_api(api_min_cell=smallest[0] + 1) as api:
        kpi = (
            await api.get(
                "/v1/kpi/participation",
                params={"as_of": world.as_of, "municipality": smallest[1]},
            )
        ).json()
    assert kpi["national"]["suppressed"]
    assert kpi["national"]["active"] is None
    assert kpi["national"]["rate"] is None
    assert kpi["trajectory"]["rate"] is None
    assert all(m["suppressed"] for m in kpi["monthly"] if m["active"] != 0)
    assert all(
        c["active"] in (None, 0) for cells in kpi["breakdowns"].values() for c in cells.values()
    )


async def test_aggregate_endpoints_carry_no_personal_data(api, world: ProjectedWorld) -> None:
    """KPI, campaign and organisation documents name no volunteer and hold no contact."""
    volunteer_ids = list(world.truth["volunteers"]["by_id"])
    for path in ("/v1/kpi/participation", "/v1/campaigns?limit=200", "/v1/organizations",
                 "/v1/campaigns/cmp-00001", "/v1/activity/recent", "/v1/sectors"):  # fmt: skip
        body = (await api.get(path)).text
        for marker in ("vol-", "@", "+974", "phone", "email"):
            assert marker not in body, (path, marker)
        assert not any(v in body for v in volunteer_ids[:50]), path
