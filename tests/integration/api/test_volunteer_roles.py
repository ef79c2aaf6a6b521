"""`GET /v1/volunteers/{id}` answers each role with what it needs, and no more (auth.py)."""

from __future__ import annotations

import pytest

from consumers.api.auth import digest
from infra.db import connect
from tests.integration.api.conftest import TOKEN, ApiFactory
from tests.integration.api.world import ProjectedWorld
from tests.support.problems import assert_problem

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]
ORG_TOKEN, OTHER_TOKEN = "torg_test-token-of-the-volunteers-org", "torg_test-token-of-another"
CONTACT = {"phone", "email", "family_name", "birth_year", "gender", "nationality_group",
           "municipality", "consent", "signups", "attended", "verified_hours"}  # fmt: skip


async def a_volunteer_and_their_orgs(world: ProjectedWorld) -> tuple[str, str, str]:
    """A registered volunteer with activity, an org of theirs, and an org not theirs."""
    conn = await connect(world.settings)
    try:
        volunteers, campaigns = world.schemas["volunteers"], world.schemas["campaigns"]
        row = await conn.fetchrow(
            f"""select p.volunteer_id, c.org_id from "{volunteers}".participations p
                join "{volunteers}".volunteers v using (volunteer_id)
                join "{campaigns}".campaigns c using (campaign_id)
                where v.status = 'registered' and v.phone is not null
                order by p.volunteer_id limit 1"""
        )
        other = await conn.fetchval(
            f"""select c.org_id from "{campaigns}".campaigns c where c.org_id not in (
                    select c2.org_id from "{volunteers}".participations p
                    join "{campaigns}".campaigns c2 using (campaign_id)
                    where p.volunteer_id = $1) order by 1 limit 1""",
            row["volunteer_id"],
        )
    finally:
        await conn.close()
    assert other is not None
    return row["volunteer_id"], row["org_id"], other


async def test_each_role_sees_what_it_needs(make_api: ApiFactory, world: ProjectedWorld) -> None:
    """Public: 401. Admin: the whole profile. The volunteer's organisation: id, given name,
    language and status only. Another organisation: 404, as for an unknown volunteer."""
    volunteer, org, other = await a_volunteer_and_their_orgs(world)
    tokens = f"{org}={digest(ORG_TOKEN)}, {other}={digest(OTHER_TOKEN)}"
    path = f"/v1/volunteers/{volunteer}"
    async with make_api(api_org_token_sha256=tokens) as api:
        public = await api.get(path)
        assert_problem(public, 401, "unauthorized")

        admin = await api.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert admin.status_code == 200, admin.text
        assert set(admin.json()) >= CONTACT
        assert admin.json()["phone"]

        theirs = await api.get(path, headers={"Authorization": f"Bearer {ORG_TOKEN}"})
        assert theirs.status_code == 200, theirs.text
        assert set(theirs.json()) == {"volunteer_id", "given_name", "language", "status"}
        assert theirs.json()["given_name"] == admin.json()["given_name"]
        assert theirs.headers["cache-control"] == "private, no-store"
        assert admin.json()["phone"] not in theirs.text
        assert admin.json()["email"] not in theirs.text

        stranger = await api.get(path, headers={"Authorization": f"Bearer {OTHER_TOKEN}"})
        unknown = await api.get(
            "/v1/volunteers/vol-none", headers={"Authorization": f"Bearer {OTHER_TOKEN}"}
        )
        assert_problem(stranger, 404, "not_found")
        assert_problem(unknown, 404, "not_found")
        assert admin.json()["given_name"] not in stranger.text

        forged = await api.get(path, headers={"Authorization": "Bearer torg_guessed"})
        assert_problem(forged, 403, "forbidden")
