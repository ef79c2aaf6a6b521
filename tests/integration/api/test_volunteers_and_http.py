"""Personal data behind the volunteers scope; ETags, cache policy, freshness, metrics, docs."""

from __future__ import annotations

import datetime as dt

import pytest

from infra.db import connect
from tests.integration.api.conftest import TOKEN, ApiFactory
from tests.integration.api.world import ProjectedWorld
from tests.support.problems import assert_problem

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


def busiest_volunteer(world: ProjectedWorld) -> str:
    """A volunteer with attended activity."""
    by_id = world.truth["volunteers"]["by_id"]
    return max(by_id, key=lambda v: (by_id[v]["attended"], v))


async def test_personal_data_needs_a_token_with_the_volunteers_scope(
    api, world: ProjectedWorld
) -> None:
    """No token: 401 with a Bearer challenge; a wrong token: 403; neither shows the record."""
    path = f"/v1/volunteers/{busiest_volunteer(world)}"
    missing = await api.get(path)
    assert_problem(missing, 401, "unauthorized")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    wrong = await api.get(path, headers={"Authorization": "Bearer tvol_guessed"})
    assert_problem(wrong, 403, "forbidden")
    not_bearer = await api.get(path, headers={"Authorization": f"Basic {TOKEN}"})
    assert_problem(not_bearer, 401, "unauthorized")
    for response in (missing, wrong, not_bearer):
        assert "phone" not in response.text
        assert "email" not in response.text


async def test_the_right_token_reads_the_volunteer_with_the_truths_totals(
    api, world: ProjectedWorld
) -> None:
    """With the token: profile, consent and totals equal the truth; never stored by caches."""
    volunteer_id = busiest_volunteer(world)
    response = await api.get(
        f"/v1/volunteers/{volunteer_id}", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "private, no-store"
    body = response.json()
    expected = world.truth["volunteers"]["by_id"][volunteer_id]
    for key in ("signups", "attended", "verified_hours", "no_shows"):
        assert body[key] == expected[key], key
    assert body["first_activity"].replace("+00:00", "Z") == expected["first_activity"]
    assert body["phone"]
    assert body["given_name"]
    assert body["status"] == "registered"
    unknown = await api.get("/v1/volunteers/vol-none", headers={"Authorization": f"Bearer {TOKEN}"})
    assert assert_problem(unknown, 404, "not_found")["detail"] == "no volunteer with id 'vol-none'"


async def test_etags_answer_304_and_aggregates_are_cached_briefly(api) -> None:
    """Same body, same ETag; If-None-Match gives 304 with no body; max-age from settings."""
    first = await api.get("/v1/kpi/participation?as_of=2026-06-01")
    assert first.headers["cache-control"] == "public, max-age=5"
    again = await api.get(
        "/v1/kpi/participation?as_of=2026-06-01",
        headers={"If-None-Match": first.headers["etag"]},
    )
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    stale = await api.get(
        "/v1/kpi/participation?as_of=2026-06-01", headers={"If-None-Match": '"old"'}
    )
    assert stale.status_code == 200
    assert (await api.get("/v1/projections")).headers["cache-control"] == "no-cache"


async def test_projection_freshness_shows_lag_counters_and_missing_schemas(
    make_api: ApiFactory, world: ProjectedWorld
) -> None:
    """Caught-up projectors show lag 0 and their dead letters; an absent schema is 'missing'."""
    await world.caught_up()
    invalid = {t.removeprefix(world.prefix): n for t, n in world.truth["stream"]["invalid"].items()}
    async with make_api() as api:
        body = (await api.get("/v1/projections")).json()
    by_name = {p["name"]: p for p in body["projections"]}
    assert set(by_name) == set(world.schemas)
    for runtime in world.runtimes:
        served = by_name[runtime.projector.name]
        assert served["status"] == "ok"
        assert served["lag"] == 0
        assert served["schema"] == runtime.schema
        assert served["dead_lettered"] == sum(invalid.get(t, 0) for t in runtime.projector.topics)
        assert served["events_applied"] > 0
        assert served["last_event_time"]
    async with make_api(schemas={**world.schemas, "volunteers": "api_absent_schema"}) as api:
        body = (await api.get("/v1/projections")).json()
    assert {p["name"]: p["status"] for p in body["projections"]}["volunteers"] == "missing"


async def test_recent_activity_counts_check_ins_per_hour_of_the_day(
    make_api: ApiFactory, world: ProjectedWorld
) -> None:
    """A past day: its 24 hours in Qatar (21:00 UTC the day before to 21:00 UTC); with k = 1
    nothing is withheld, and each bucket is the count of participations whose check-in falls
    in its hour, counted here straight from the table (the simulation's last ten days, so
    that some have check-ins)."""
    end = dt.date.fromisoformat(world.as_of)
    table = f'"{world.schemas["participation"]}".participations'
    totals = []
    conn = await connect(world.settings)
    try:
        async with make_api(api_min_cell=1) as api:
            for back in range(1, 11):
                day = str(end - dt.timedelta(days=back))
                body = (await api.get("/v1/activity/recent", params={"as_of": day})).json()
                assert len(body["buckets"]) == 24
                assert body["bucket_minutes"] == 60
                assert body["buckets"][0]["start"].endswith("T21:00:00Z")
                assert body["buckets"][-1]["start"].endswith("T20:00:00Z")
                for bucket in body["buckets"]:
                    start = dt.datetime.fromisoformat(bucket["start"])
                    direct = await conn.fetchval(
                        f"select count(*) from {table}"
                        " where checked_in_at >= $1 and checked_in_at < $1 + interval '1 hour'",
                        start,
                    )
                    assert bucket["check_ins"] == direct, (day, bucket)
                assert body["check_ins"] == sum(b["check_ins"] for b in body["buckets"])
                assert not body["suppressed"]
                totals.append(body["check_ins"])
    finally:
        await conn.close()
    assert sum(totals) > 0


async def test_health_ready_metrics_and_docs_are_served(make_api: ApiFactory) -> None:
    """/health (live) and /ready (PostgreSQL answers) are ok, /metrics counts requests by route
    on each app's own registry, /docs loads."""
    async with make_api() as one, make_api() as two:
        assert (await one.get("/health")).json() == {"status": "ok"}
        ready = await one.get("/ready")
        assert (ready.status_code, ready.json()) == (200, {"status": "ok", "postgres": "ok"})
        await one.get("/v1/campaigns/cmp-nope")
        metrics = (await one.get("/metrics")).text
        assert 'route="/v1/campaigns/{campaign_id}",status="404"' in metrics
        assert "/v1/campaigns/{campaign_id}" not in (await two.get("/metrics")).text
        assert (await one.get("/docs")).status_code == 200
        paths = (await one.get("/openapi.json")).json()["paths"]
        assert {"/v1/kpi/participation", "/v1/campaigns", "/v1/volunteers/{volunteer_id}"} <= set(
            paths
        )


async def test_a_read_model_that_does_not_exist_yet_is_a_503_problem(
    make_api: ApiFactory, world: ProjectedWorld
) -> None:
    """Before its projector ever ran, an endpoint over it answers 503 with Retry-After."""
    async with make_api(schemas={**world.schemas, "campaigns": "api_absent_schema"}) as api:
        response = await api.get("/v1/campaigns")
    assert_problem(response, 503, "read_model_unavailable")
    assert response.headers["retry-after"] == "5"
