"""Crypto-shredding at the ingress router: clear on the ingress topic, encrypted when forwarded."""

from __future__ import annotations

import orjson
import pytest

from infra.settings import Settings
from schemas.personal import sealed_values
from tests.support.personal import clear_hits, opened, personal_values
from tests.support.router import (
    as_raw,
    create_ingress,
    partner_event,
    produce,
    read_all,
    running_router,
    wait_routed,
)

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


async def test_a_registration_is_forwarded_with_no_personal_field_in_clear(
    stack: Settings, prefix: str, unique: str
) -> None:
    """The partner writes clear JSON to its ingress topic; the canonical record holds none
    of the name, phone or email, and opens to exactly what the partner wrote."""
    org = f"org-{unique}"
    [topic] = await create_ingress(stack, prefix, [org])
    values = personal_values(unique)
    registration = partner_event(org, "volunteer.registered", 0, unique, **values)
    signup = partner_event(org, "volunteer.signed_up", 0, unique)
    launch = partner_event(org, "campaign.launched", 0, unique)
    publication = partner_event(org, "opportunity.published", 0, unique)
    documents = [launch, publication, registration, signup]
    await produce(stack, topic, [as_raw(d) for d in documents])
    async with running_router(stack, prefix):
        await wait_routed(stack, prefix, [topic], 30)
    assert clear_hits(await read_all(stack, [topic]), values)  # the ingress topic: in clear
    forwarded = await read_all(stack, [prefix + "tatawwu.volunteers", prefix + "tatawwu.signups"])
    assert sorted(orjson.loads(r.value)["id"] for r in forwarded) == sorted(
        [registration["id"], signup["id"]]
    )
    assert clear_hits(forwarded, values) == []
    [record] = [r for r in forwarded if r.topic.endswith("volunteers")]
    event = await opened(stack, record)
    assert sealed_values(event.data) == []
    assert event.data.model_dump(mode="json", exclude_unset=True) == registration["data"]
