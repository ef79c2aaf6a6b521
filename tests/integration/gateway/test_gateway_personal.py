"""Crypto-shredding at the gateway: partners send personal fields in clear, Kafka never has them."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from gateway_helpers import Partner, end_offsets, new_partner, read_since

from infra.settings import Settings
from schemas.personal import EncryptedField, sealed_values
from tests.support.personal import clear_hits, opened, personal_values

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]

VOLUNTEERS = "tatawwu.volunteers"


async def test_a_registration_lands_with_no_personal_field_in_clear(
    client: httpx.AsyncClient, partner: Partner, stack: Settings
) -> None:
    """The raw record on the canonical topic holds none of the name, phone or email (nor
    the birth year, gender, nationality or municipality in clear); the key service opens
    it back to exactly what the partner sent."""
    values = personal_values(partner.unique)
    registration = partner.event("volunteer.registered", **values)
    update = partner.event("volunteer.profile_updated", 1)
    update["subject"] = registration["subject"]
    update["data"] = {"volunteer_id": registration["subject"], "phone": "+97466612345",
                      "municipality": "al_khor"}  # fmt: skip
    offsets = await end_offsets(stack, [VOLUNTEERS])
    response = await client.post("/v1/events", json=[registration, update], headers=partner.headers)
    assert response.status_code == 202, response.text
    records = await read_since(stack, offsets, {registration["id"], update["id"]})
    assert len(records) == 2
    assert clear_hits(records, {**values, "phone2": "+97466612345"}) == []
    by_id = {(await opened(stack, r)).id: r for r in records}
    event = await opened(stack, by_id[registration["id"]])
    assert sealed_values(event.data) == []
    assert event.data.model_dump(mode="json", exclude_unset=True) == registration["data"]
    raw = await opened(stack, by_id[update["id"]])
    assert (raw.data.phone, raw.data.municipality) == ("+97466612345", "al_khor")
    for name in ("birth_year", "gender", "nationality_group", "municipality"):
        assert f'"{name}":{{"enc":"aes-256-gcm"'.encode() in by_id[registration["id"]].value


async def test_an_encrypted_field_from_a_partner_is_refused(
    client: httpx.AsyncClient, partner: Partner
) -> None:
    """Only the platform encrypts: an encrypted-field object is a 422 naming its path."""
    sealed = EncryptedField(enc="aes-256-gcm", kid="k" * 16, iv="A" * 16, ct="B" * 40)
    registration = partner.event("volunteer.registered", email=sealed.model_dump())
    response = await client.post("/v1/events", json=registration, headers=partner.headers)
    assert response.status_code == 422, response.text
    [error] = response.json()["errors"]
    assert (error["path"], error["rule"]) == ("data.email", "encrypted_field")


async def test_an_admin_erases_a_volunteer_whose_data_is_then_refused(
    client: httpx.AsyncClient, gateway: FastAPI, partner: Partner
) -> None:
    """Only an admin key may erase; afterwards the volunteer's personal data is refused
    (409), their key is gone, and a repeated erasure answers the same state."""
    registration = partner.event("volunteer.registered", 7)
    response = await client.post("/v1/events", json=registration, headers=partner.headers)
    assert response.status_code == 202, response.text
    path = f"/v1/volunteers/{registration['subject']}/erasure"
    refused = await client.post(path, headers=partner.headers)
    assert refused.status_code == 403
    admin = await new_partner(gateway, f"{partner.unique}a", admin=True)
    erased = await client.post(path, headers=admin.headers)
    assert erased.status_code == 200, erased.text
    state = erased.json()
    assert state["key_destroyed_at"]
    assert state["published_at"]
    assert (await client.post(path, headers=admin.headers)).json() == state
    again = partner.event("volunteer.profile_updated", 7, volunteer_id=registration["subject"])
    response = await client.post("/v1/events", json=again, headers=partner.headers)
    assert response.status_code == 409, response.text
    assert response.json()["code"] == "volunteer_erased"
