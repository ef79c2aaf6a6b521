"""The two encrypted forms: the event ciphertext the platform writes, the per-field one
it wrote before (still in the log, kept forever: it must keep opening)."""

from __future__ import annotations

import binascii
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_core import to_json

from infra.keys import DataKey
from infra.sealing import open_event, seal_event
from schemas.decode import decode_event, encode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.personal import (
    EncryptedField,
    EncryptedRef,
    associated_data,
    clear_values,
    field_path,
    sealed_values,
)
from tests.unit.test_sealing import PERSONAL_VALUES, registration


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode()


def sealed_per_field(event: Event[Any], key: DataKey) -> Event[Any]:
    """A registration as the platform wrote it before the event form: a ciphertext per
    field, its value as JSON, associated data naming the field's path."""
    updates = {}
    for name, value in clear_values(event.data):
        nonce = os.urandom(12)
        aad = associated_data(event.source, event.id, event.subject, field_path(name))
        ct = key.cipher.encrypt(nonce, to_json(value), aad)
        updates[name] = EncryptedField(enc="aes-256-gcm", kid=key.kid, iv=_b64(nonce), ct=_b64(ct))
    return event.model_copy(update={"data": event.data.model_copy(update=updates)})


def wire(event: Event[Any]) -> Event[Any]:
    decoded = decode_event(encode_event(event))
    assert not isinstance(decoded, DecodeError), decoded
    return decoded


def test_an_event_is_one_ciphertext_and_references_to_it() -> None:
    """The first personal field holds the ciphertext of all of them; the others name it."""
    key = DataKey("kid-00000001", "vol-10077", AESGCM(os.urandom(32)))
    sealed = wire(seal_event(registration(), key))
    values = dict(sealed_values(sealed.data))
    assert isinstance(values.pop("given_name"), EncryptedField)
    assert sealed.data.given_name.of == "data"
    assert {type(v) for v in values.values()} == {EncryptedRef}
    assert {v.in_ for v in values.values()} == {"given_name"}
    raw = encode_event(sealed)
    assert raw.count(b'"ct":') == 1
    assert raw.count(b'"in":"given_name"') == 7
    for value in PERSONAL_VALUES:
        assert value.encode() not in raw


def test_records_of_the_per_field_form_still_open_and_stay_bound_to_their_field() -> None:
    """What the log already holds opens to the same event; a moved field does not open."""
    key = DataKey("kid-00000001", "vol-10077", AESGCM(os.urandom(32)))
    event = registration()
    old = wire(sealed_per_field(event, key))
    assert b'"of"' not in encode_event(old)  # re-encoded as it was read
    assert encode_event(open_event(old, {key.kid: key})) == encode_event(event)
    moved = old.model_copy(update={"data": old.data.model_copy(update={"email": old.data.phone})})
    opened = open_event(moved, {key.kid: key})
    assert isinstance(opened.data.email, EncryptedField)
    assert opened.data.phone == "+97455501234"


def test_a_partial_update_seals_only_what_it_sets_and_keeps_nulls_in_clear() -> None:
    """A profile update with one personal field and a cleared family name."""
    key = DataKey("kid-00000001", "vol-10077", AESGCM(os.urandom(32)))
    document = registration().model_dump(mode="json")
    document.update(type="volunteer.profile_updated", dataschema=None)
    document["data"] = {"volunteer_id": "vol-10077", "given_name": "Fatima", "family_name": None}
    event = decode_event(to_json({k: v for k, v in document.items() if v is not None}))
    assert not isinstance(event, DecodeError), event
    sealed = wire(seal_event(event, key))
    assert isinstance(sealed.data.given_name, EncryptedField)
    assert sealed.data.family_name is None
    assert "family_name" in sealed.data.model_fields_set
    assert encode_event(open_event(sealed, {key.kid: key})) == encode_event(event)
