"""`GET /v1/volunteers/{id}/export`: admin keys only, 404 for an unknown id, and an erased
volunteer's export says so and holds nothing personal (before and after the read models
have applied the erasure)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from fastapi import FastAPI
from gateway_helpers import Partner, new_partner

from consumers.volunteers import PROJECTOR as VOLUNTEERS
from infra import subject_access
from infra.settings import Settings
from tests.integration.projectors.test_subject_access import project_world, volunteer_values
from tests.support.projectors import delete_topics, run_until_caught_up

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_only_an_admin_key_exports_and_an_unknown_volunteer_is_a_404(
    client: httpx.AsyncClient, gateway: FastAPI, partner: Partner
) -> None:
    """No key: 401; a partner's key: 403; an admin's, for an id nothing is held about: a
    404 problem naming the id."""
    path = f"/v1/volunteers/nobody-{partner.unique}/export"
    assert (await client.get(path)).status_code == 401
    refused = await client.get(path, headers=partner.headers)
    assert refused.status_code == 403
    assert refused.json()["code"] == "forbidden"
    admin = await new_partner(gateway, f"{partner.unique}a", admin=True)
    missing = await client.get(path, headers=admin.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    problem = missing.json()
    assert (problem["code"], problem["instance"]) == ("not_found", path)
    assert f"nobody-{partner.unique}" in problem["detail"]


async def test_an_erased_volunteers_export_says_so_and_holds_nothing_personal(
    client: httpx.AsyncClient, gateway: FastAPI, stack: Settings, unique: str
) -> None:
    """Exported as the CLI would; after erasure (the read models not caught up yet, then
    caught up): `erased`, the erasure's steps, the activity still there, and no name,
    phone (the old one either) or email anywhere in the document."""
    prefix = f"gx.{unique}."
    one = f"v1-{unique}"
    admin = await new_partner(gateway, f"{unique}x", admin=True)
    saved = gateway.state.read_models, gateway.state.topic_prefix
    try:
        _, places = await project_world(stack, unique, prefix, notify=False)
        gateway.state.read_models, gateway.state.topic_prefix = places, prefix
        path = f"/v1/volunteers/{one}/export"
        before = await client.get(path, headers=admin.headers)
        assert before.status_code == 200, before.text
        assert before.headers["cache-control"] == "no-store"
        document = before.json()
        assert document["profile"]["phone"] == "+97433300011"
        expected = await subject_access.export(stack, one, places)
        assert {**document, "exported_at": None} == {**expected, "exported_at": None}

        erased = await client.post(f"/v1/volunteers/{one}/erasure", headers=admin.headers)
        assert erased.status_code == 200, erased.text
        personal = [v for k, v in volunteer_values(unique, 1).items() if k != "volunteer_id"]
        personal.append("+97433300011")
        for caught_up in (False, True):
            if caught_up:
                await run_until_caught_up(stack, {"volunteers": VOLUNTEERS},
                                          {"volunteers": places.volunteers}, prefix,
                                          group=f"sa-{unique}")  # fmt: skip
            after = await client.get(path, headers=admin.headers)
            assert after.status_code == 200, after.text
            document = after.json()
            text = orjson.dumps(document).decode()
            assert [v for v in personal if str(v) in text] == []
            assert document["erased"] is True
            assert document["erasure"]["key_destroyed_at"]
            assert not subject_access.PERSONAL & document["profile"].keys()
            assert len(document["participations"]) == 2  # the activity stays, anonymous
        assert document["profile"]["status"] == "erased"
        assert [h["type"] for h in document["profile_history"]][-1] == "volunteer.erased"
    finally:
        gateway.state.read_models, gateway.state.topic_prefix = saved
        await delete_topics(stack, prefix)
