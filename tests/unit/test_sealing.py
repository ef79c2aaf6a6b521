"""Crypto-shredding without I/O: personal fields sealed and opened, bound to their place."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.keys import (
    DataKey,
    MasterKey,
    MasterKeyMismatch,
    MasterKeyMissing,
    ensure_master_key_file,
    load_master_key,
)
from infra.sealing import (
    VolunteerErased,
    needs_sealing,
    open_event,
    open_events,
    seal_event,
    seal_events,
)
from infra.settings import Settings
from schemas.admission import Organisation, judge_request
from schemas.decode import decode_event, encode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.examples import example
from schemas.ownership import TimeBounds
from schemas.personal import PERSONAL, EncryptedField, EncryptedRef, sealed_values
from schemas.volunteers import VolunteerRegistered

PUBLISHED = Path(__file__).resolve().parents[2] / "schemas" / "published"
PERSONAL_VALUES = ("Fatima", "Al-Kuwari", "+97455501234", "fatima.alkuwari@example.qa")


class FakeKeys:
    """An in-memory key service (the KeyService protocol), for pure-logic tests."""

    def __init__(self) -> None:
        self.keys: dict[str, DataKey] = {}
        self.destroyed: set[str] = set()
        self.lookups = 0

    async def keys_for(self, volunteer_ids: Collection[str]) -> dict[str, DataKey]:
        self.lookups += 1
        for volunteer_id in set(volunteer_ids) - self.keys.keys() - self.destroyed:
            kid = base64.urlsafe_b64encode(os.urandom(12)).decode()
            self.keys[volunteer_id] = DataKey(kid, volunteer_id, AESGCM(os.urandom(32)))
        return {v: self.keys[v] for v in volunteer_ids if v in self.keys}

    async def keys_by_id(self, kids: Collection[str]) -> dict[str, DataKey]:
        self.lookups += 1
        return {k.kid: k for k in self.keys.values() if k.kid in kids}

    async def destroy(self, volunteer_id: str) -> bool:
        self.destroyed.add(volunteer_id)
        return self.keys.pop(volunteer_id, None) is not None

    def forget(self, volunteer_id: str) -> None:
        pass  # nothing cached

    def forget_all(self) -> None:
        pass


def event_of(document: dict[str, Any]) -> Event[Any]:
    decoded = decode_event(orjson.dumps(document))
    assert not isinstance(decoded, DecodeError), decoded
    return decoded


def registration(volunteer: str = "vol-10077", event_id: str = "evt-1") -> Event[Any]:
    document = example("volunteer.registered")
    document["subject"] = document["data"]["volunteer_id"] = volunteer
    document["id"] = event_id
    return event_of(document)


async def test_sealed_fields_round_trip_through_the_wire_to_the_same_event() -> None:
    """Sealed, encoded, decoded and opened: byte for byte the event that was sent."""
    keys, event = FakeKeys(), registration()
    [sealed] = await seal_events(keys, [event])
    wire = encode_event(sealed)
    for value in PERSONAL_VALUES:
        assert value.encode() not in wire
    for value in (b'"female"', b'"qatari"', b'"al_rayyan"', b"1998"):
        assert value not in wire
    decoded = decode_event(wire)
    assert not isinstance(decoded, DecodeError)
    [opened] = await open_events(keys, [decoded])
    assert encode_event(opened) == encode_event(event)
    assert opened.data.gender == "female"
    assert opened.data.birth_year == 1998


async def test_only_personal_fields_are_sealed_and_others_stay_readable() -> None:
    """Language, consent and the volunteer id stay in clear: nothing else needs them hidden."""
    [sealed] = await seal_events(FakeKeys(), [registration()])
    names = [name for name, _ in sealed_values(sealed.data)]
    assert names == ["given_name", "family_name", "phone", "email", "birth_year", "gender",
                     "nationality_group", "municipality"]  # fmt: skip
    assert sealed.data.language == "ar"
    assert sealed.data.consent.sms is True


async def test_events_without_personal_fields_are_untouched_and_cost_no_lookup() -> None:
    """A sign-up passes through as the same object; no key is asked for."""
    keys = FakeKeys()
    signup = event_of(example("volunteer.signed_up"))
    assert not needs_sealing(signup)
    assert (await seal_events(keys, [signup]))[0] is signup
    assert (await open_events(keys, [signup]))[0] is signup
    assert keys.lookups == 0


async def test_a_ciphertext_moved_to_another_event_or_field_does_not_open() -> None:
    """The associated data binds the event ciphertext to its event and volunteer; a
    reference takes only its own field's value, whatever field it is moved to."""
    keys = FakeKeys()
    [one] = await seal_events(keys, [registration(event_id="evt-1")])
    [two] = await seal_events(keys, [registration(event_id="evt-2")])
    found = {k.kid: k for k in keys.keys.values()}
    assert isinstance(one.data.given_name, EncryptedField)  # the event ciphertext
    swapped_event = two.model_copy(
        update={"data": two.data.model_copy(update={"given_name": one.data.given_name})}
    )
    assert len(sealed_values(open_event(swapped_event, found).data)) == 8  # nothing opens
    moved = one.model_copy(
        update={"data": one.data.model_copy(update={"email": one.data.given_name})}
    )
    opened = open_event(moved, found)  # the ciphertext copied into another field of its event
    assert opened.data.email == "fatima.alkuwari@example.qa"  # its own value, not the name
    assert opened.data.phone == "+97455501234"  # the references still open
    referenced = one.model_copy(update={"data": one.data.model_copy(update={
        "email": one.data.phone, "phone": EncryptedRef.model_validate({
            "enc": "aes-256-gcm", "in": "phone"})})})  # fmt: skip
    opened = open_event(referenced, found)
    assert opened.data.email == "fatima.alkuwari@example.qa"  # its own value, not phone's
    assert isinstance(opened.data.phone, EncryptedRef)  # names no ciphertext: stays


async def test_another_volunteers_key_never_opens_a_field() -> None:
    """A field naming a key that is not its subject's stays sealed."""
    keys = FakeKeys()
    [mine] = await seal_events(keys, [registration("vol-a")])
    await seal_events(keys, [registration("vol-b")])
    stolen = {keys.keys["vol-a"].kid: DataKey(keys.keys["vol-a"].kid, "vol-b",
                                              keys.keys["vol-b"].cipher)}  # fmt: skip
    assert len(sealed_values(open_event(mine, stolen).data)) == 8


async def test_a_destroyed_key_leaves_every_field_sealed_and_refuses_new_facts() -> None:
    """Erasure: old records no longer open; the volunteer's personal data is not taken again."""
    keys = FakeKeys()
    [sealed] = await seal_events(keys, [registration()])
    await keys.destroy("vol-10077")
    [still] = await open_events(keys, [sealed])
    assert len(sealed_values(still.data)) == 8
    with pytest.raises(VolunteerErased, match="vol-10077"):
        await seal_events(keys, [registration(event_id="evt-again")])


async def test_an_upcast_v1_registration_is_sealed_and_opened_like_a_v2_one() -> None:
    """v1 records (clear, from before) still decode and upcast; the result seals."""
    document = example("volunteer.registered")
    data = document["data"]
    data["full_name"] = f"{data.pop('given_name')} {data.pop('family_name')}"
    document["dataschema"] = "urn:tatawwu:volunteer.registered:v1"
    event = event_of(document)
    assert event.version == 2
    assert event.data.family_name == "Al-Kuwari"
    keys = FakeKeys()
    [sealed] = await seal_events(keys, [event])
    [opened] = await open_events(keys, [event_of(orjson.loads(encode_event(sealed)))])
    assert encode_event(opened) == encode_event(event)


def test_a_partner_sending_an_encrypted_field_is_refused_with_its_path() -> None:
    """Only the platform encrypts: an encrypted-field object from a partner is a 422."""
    document = example("volunteer.registered")
    document["data"]["phone"] = {"enc": "aes-256-gcm", "kid": "k" * 16, "iv": "A" * 16,
                                 "ct": "B" * 40}  # fmt: skip
    event = event_of(document)
    refusals, _ = judge_request(Organisation("org-qrcs"), [event], {},
                                event.time, TimeBounds())  # fmt: skip
    assert [(r.path, r.rule, r.status) for r in refusals] == [
        ("data.phone", "encrypted_field", 422)
    ]


def test_a_bad_personal_value_is_reported_at_its_own_path() -> None:
    """The clear/encrypted union does not leak into error paths: `data.phone`, `pattern`."""
    document = example("volunteer.registered")
    document["data"]["phone"] = "5550"
    result = decode_event(orjson.dumps(document))
    assert isinstance(result, DecodeError)
    assert [(e.path, e.rule) for e in result.errors] == [("data.phone", "pattern")]
    document["data"]["phone"] = {"enc": "rot13"}
    result = decode_event(orjson.dumps(document))
    assert isinstance(result, DecodeError)
    assert {e.path for e in result.errors} == {"data.phone.enc", "data.phone.kid",
                                               "data.phone.iv", "data.phone.ct"}  # fmt: skip


def test_the_published_schema_marks_the_personal_fields() -> None:
    """`x-tatawwu-personal` on each personal field; the encrypted form is documented."""
    schema = json.loads((PUBLISHED / "volunteer.registered.v2.schema.json").read_text())
    data = schema["$defs"][next(k for k in schema["$defs"] if k.startswith("VolunteerRegistered"))]
    marked = sorted(n for n, p in data["properties"].items() if _marked(p))
    assert marked == sorted(["given_name", "family_name", "phone", "email", "birth_year",
                             "gender", "nationality_group", "municipality"])  # fmt: skip
    assert schema["$defs"]["EncryptedField"]["properties"]["enc"]["const"] == "aes-256-gcm"
    asyncapi = (PUBLISHED / "asyncapi.json").read_text()
    assert PERSONAL in asyncapi
    assert "EncryptedField" in asyncapi
    assert set(VolunteerRegistered.model_fields) > set(marked)


def _marked(prop: dict[str, Any]) -> bool:
    return prop.get(PERSONAL) is True or any(b.get(PERSONAL) for b in prop.get("anyOf", ()))


def test_the_master_key_wraps_and_refuses_another_masters_wrap() -> None:
    """A data key unwraps only under the master key that wrapped it, with a clear error."""
    master, other = MasterKey.of(os.urandom(32)), MasterKey.of(os.urandom(32))
    raw = os.urandom(32)
    wrapped = master.wrap("vol-1", "kid-00000001", raw)
    assert master.unwrap("vol-1", "kid-00000001", wrapped, master.kid) == raw
    with pytest.raises(MasterKeyMismatch, match="wrapped by master key"):
        other.unwrap("vol-1", "kid-00000001", wrapped, master.kid)
    with pytest.raises(MasterKeyMismatch, match="does not unwrap"):
        master.unwrap("vol-2", "kid-00000001", wrapped, master.kid)  # moved to another row


def test_the_master_key_comes_from_the_setting_or_the_file(tmp_path: Path) -> None:
    """Setting first, then the key file (made once, 0600); neither: an error naming both."""
    path = tmp_path / "keys" / "master.key"
    with pytest.raises(MasterKeyMissing, match="TATAWWU_MASTER_KEY"):
        load_master_key(Settings(master_key_file=path))
    assert ensure_master_key_file(path) is True
    assert ensure_master_key_file(path) is False
    assert path.stat().st_mode & 0o777 == 0o600
    from_file = load_master_key(Settings(master_key_file=path))
    assert from_file.kid == load_master_key(Settings(master_key=path.read_text().strip())).kid
    with pytest.raises(MasterKeyMissing, match="32 bytes"):
        load_master_key(Settings(master_key=base64.b64encode(b"short").decode()))
    with pytest.raises(MasterKeyMissing, match="not base64"):
        load_master_key(Settings(master_key="not base64!"))


def test_sealing_an_event_twice_gives_different_ciphertexts() -> None:
    """A random nonce per event: equal values do not show as equal ciphertexts."""
    key = DataKey("kid-00000001", "vol-10077", AESGCM(os.urandom(32)))
    event = registration()
    one, two = seal_event(event, key), seal_event(event, key)
    assert one.data.given_name.ct != two.data.given_name.ct
    assert encode_event(open_event(one, {key.kid: key})) == encode_event(event)
