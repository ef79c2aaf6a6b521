"""Encrypt an event's personal fields before it enters a canonical topic; open them after.

`seal_events` is what every service that puts facts on the canonical topics calls just
before `infra.bus` (the gateway, the ingress router, `tatawwu publish`, the simulator):
each personal field sent in clear (`schemas.personal`) becomes an encrypted-field object
under the volunteer's data key (one key lookup per call, for the volunteers not cached).
`open_events` is what consumers call after decoding: encrypted fields whose key is live
are replaced by their clear values, validated as the contract types them; fields whose
key was destroyed (an erased volunteer) stay encrypted (`schemas.personal.sealed_values`
tells a read model which).

The associated data of every field is `<source> <id> <subject> data.<field>`, so a
ciphertext cannot be moved to another event, volunteer or field. AES-GCM with a random
96-bit nonce per field: a volunteer's key encrypts a few dozen fields in its life, far
from the 2^32 messages per key the nonce size allows.
"""

from __future__ import annotations

import binascii
import functools
import os
import typing
from collections.abc import Callable, Sequence
from dataclasses import replace
from enum import Enum
from typing import Any, TypeVar

from cryptography.exceptions import InvalidTag
from pydantic import BaseModel
from pydantic_core import from_json, to_json

from infra.bus import Outgoing
from infra.keys import DataKey, KeyService
from schemas.decode import decode_event, encode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.personal import (
    ALGORITHM,
    EncryptedField,
    associated_data,
    clear_type,
    clear_values,
    field_path,
    sealable_fields,
    sealed_values,
)

NONCE_BYTES = 12
E = TypeVar("E", bound=Event[Any])


class VolunteerErased(LookupError):
    """Personal data of a volunteer whose key was destroyed: it can no longer be stated."""


def _b64(raw: bytes) -> str:
    return binascii.b2a_base64(raw, newline=False).decode()


@functools.cache
def _converter(model: type[BaseModel], name: str) -> Callable[[Any], Any]:
    """How a field's opened JSON value becomes its Python value: its enum, or as it is.

    Not validated again: it was validated before it was encrypted, and AES-GCM
    authenticates it, so only a holder of the volunteer's key (the platform) could have
    written it. Measured: validating each opened field would double the cost of opening.
    """
    clear = typing.get_args(clear_type(model, name))[0]
    return clear if isinstance(clear, type) and issubclass(clear, Enum) else _same


def _same(value: Any) -> Any:
    return value


def needs_sealing(event: Event[Any]) -> bool:
    """True when the event carries a personal field in clear."""
    return bool(sealable_fields(type(event.data))) and bool(clear_values(event.data))


def seal_event(event: E, key: DataKey) -> E:
    """The event with every clear personal field encrypted under `key` (the subject's)."""
    updates: dict[str, EncryptedField] = {}
    clear = clear_values(event.data)
    nonces = os.urandom(NONCE_BYTES * len(clear))  # one system call for every field
    for n, (name, value) in enumerate(clear):
        aad = associated_data(event.source, event.id, event.subject, field_path(name))
        nonce = nonces[n * NONCE_BYTES : (n + 1) * NONCE_BYTES]
        ct = key.cipher.encrypt(nonce, to_json(value), aad)
        updates[name] = EncryptedField.model_construct(
            enc=ALGORITHM, kid=key.kid, iv=_b64(nonce), ct=_b64(ct)
        )
    if not updates:
        return event
    return event.model_copy(update={"data": event.data.model_copy(update=updates)})


def open_event(event: E, keys: dict[str, DataKey]) -> E:
    """The event with each encrypted field whose key is in `keys` (by kid) in clear.

    A field whose key is absent (destroyed), or whose ciphertext does not open under the
    associated data of this place (moved from another event), stays encrypted.
    """
    data = event.data
    updates: dict[str, Any] = {}
    for name, sealed in sealed_values(data):
        key = keys.get(sealed.kid)
        if key is None or key.volunteer_id != event.subject:
            continue
        aad = associated_data(event.source, event.id, event.subject, field_path(name))
        try:
            iv, ct = binascii.a2b_base64(sealed.iv), binascii.a2b_base64(sealed.ct)
            plain = key.cipher.decrypt(iv, ct, aad)
        except (InvalidTag, ValueError):
            continue
        updates[name] = _converter(type(data), name)(from_json(plain))
    if not updates:
        return event
    return event.model_copy(update={"data": data.model_copy(update=updates)})


async def seal_each(keys: KeyService, events: Sequence[E]) -> list[E | None]:
    """Every event with its clear personal fields encrypted (one key lookup for all);
    None in place of an event of a volunteer whose key was destroyed (erased)."""
    todo = [event.subject for event in events if needs_sealing(event)]
    if not todo:
        return list(events)
    found = await keys.keys_for(todo)
    return [
        (seal_event(e, found[e.subject]) if e.subject in found else None) if needs_sealing(e) else e
        for e in events
    ]


async def seal_events(keys: KeyService, events: Sequence[E]) -> list[E]:
    """Every event with its clear personal fields encrypted (one key lookup for all).

    Raises `VolunteerErased` when a volunteer whose key was destroyed is stated again
    with personal data: nothing of the batch is sealed then.
    """
    sealed = await seal_each(keys, events)
    if erased := sorted(e.subject for e, s in zip(events, sealed, strict=True) if s is None):
        msg = f"volunteer {erased[0]} was erased: its personal data cannot be stated again"
        raise VolunteerErased(msg)
    return [e for e in sealed if e is not None]


async def seal_records(
    keys: KeyService, records: Sequence[Outgoing], topic: str, memo: dict[bytes, bytes]
) -> list[Outgoing]:
    """Records already encoded, with the personal fields of the events on `topic` (under
    any prefix: the simulator's test topics) sealed.

    For publishers of prepared bytes (the simulator): a record that is no valid event is
    sent as it is (a deliberately broken one); the same bytes seal to the same bytes
    (`memo`), so a duplicate stays an exact copy. Erased volunteers' records are dropped.
    """
    todo: dict[bytes, Event[Any]] = {}
    for record in records:
        if record.topic.endswith(topic) and record.value and record.value not in memo:
            event = decode_event(record.value)
            if not isinstance(event, DecodeError) and needs_sealing(event):
                todo[record.value] = event
    if todo:
        sealed = await seal_each(keys, list(todo.values()))
        for raw, event in zip(todo, sealed, strict=True):
            memo[raw] = encode_event(event) if event is not None else b""
    out = []
    for record in records:
        value = memo.get(record.value) if record.value and record.topic.endswith(topic) else None
        if value is None:
            out.append(record)
        elif value:
            out.append(replace(record, value=value))
    return out


def kids_of(events: Sequence[Event[Any]]) -> set[str]:
    """The data keys the encrypted fields of these events name."""
    return {
        sealed.kid
        for event in events
        if sealable_fields(type(event.data))
        for _, sealed in sealed_values(event.data)
    }


async def open_events(keys: KeyService, events: Sequence[E]) -> list[E]:
    """Every event with the encrypted fields it can open in clear (one lookup for all)."""
    kids = kids_of(events)
    if not kids:
        return list(events)
    found = await keys.keys_by_id(kids)
    return [open_event(e, found) if sealable_fields(type(e.data)) else e for e in events]
