"""Encrypt an event's personal fields before it enters a canonical topic; open them after.

`seal_events` is what every service that puts facts on the canonical topics calls just
before `infra.bus` (the gateway, the ingress router, `tatawwu publish`, the simulator):
the personal fields sent in clear (`schemas.personal`) are encrypted together, as one
JSON object under the volunteer's data key: the first holds the event ciphertext, the
others a reference to it (one key lookup per call, for the volunteers not cached).
`open_events` is what consumers call after decoding (the projector runtime opens the
records in the platform's form before decoding them, `infra.opening`, and this the rest):
encrypted fields whose key is live are replaced by their clear values; fields whose key was destroyed (an erased volunteer)
stay encrypted (`schemas.personal.sealed_values` tells a read model which). Records of
the older form (a ciphertext per field) open the same way.

One ciphertext per event, not one per field: measured on registrations (8 personal
fields, CPU, interleaved runs at a load of 17), encrypting fell from ~94 to ~23 µs and
opening from ~38 to ~18 µs, and the record from ~1,330 to ~1,100 bytes
(`schemas/PERSONAL_DATA.md`). The associated data
`<source> <id> <subject> data` binds the ciphertext to one event and volunteer; each field
takes only its own name's value from it. AES-GCM with a random 96-bit nonce per event:
a volunteer's key encrypts a few dozen events in its life, far from the 2^32 messages per
key the nonce size allows.
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

import orjson
from cryptography.exceptions import InvalidTag
from pydantic import BaseModel

from infra.bus import Outgoing
from infra.keys import DataKey, KeyService
from schemas.decode import decode_event, encode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.personal import (
    ALGORITHM,
    EVENT_SCOPE,
    EncryptedField,
    EncryptedRef,
    associated_data,
    clear_type,
    clear_values,
    field_path,
    sealable_fields,
    sealed_values,
)

NONCE_BYTES = 12
E = TypeVar("E", bound=Event[Any])
M = TypeVar("M", bound=BaseModel)


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


def _with(model: M, updates: dict[str, Any]) -> M:
    """`model` with fields replaced, unvalidated (what `model_copy(update=)` does, in a
    third of its time: no deep-copy machinery, no private or extra attributes to copy)."""
    copy = model.__class__.__new__(model.__class__)
    object.__setattr__(copy, "__dict__", model.__dict__ | updates)
    object.__setattr__(
        copy, "__pydantic_fields_set__", model.__pydantic_fields_set__ | updates.keys()
    )
    object.__setattr__(copy, "__pydantic_extra__", model.__pydantic_extra__)
    private = model.__pydantic_private__
    object.__setattr__(copy, "__pydantic_private__", None if private is None else dict(private))
    return copy


def _built(model: type[M], values: dict[str, Any]) -> M:
    """A model from values known valid, every field set (`model_construct` without its
    per-field default and alias handling)."""
    built = model.__new__(model)
    object.__setattr__(built, "__dict__", values)
    object.__setattr__(built, "__pydantic_fields_set__", set(values))
    object.__setattr__(built, "__pydantic_extra__", None)
    object.__setattr__(built, "__pydantic_private__", None)
    return built


def needs_sealing(event: Event[Any]) -> bool:
    """True when the event carries a personal field in clear."""
    return bool(_clear(event))


def seal_event(event: E, key: DataKey) -> E:
    """The event with its clear personal fields encrypted under `key` (the subject's), as
    one ciphertext in the first of them and references to it in the others."""
    return _sealed(event, key, clear_values(event.data), os.urandom(NONCE_BYTES))


def _clear(event: Event[Any]) -> list[tuple[str, Any]]:
    """`clear_values` of the event's payload; nothing to look at for most event types."""
    return clear_values(event.data) if sealable_fields(type(event.data)) else []


@functools.cache
def _reference(holder: str) -> EncryptedRef:
    """The reference to the ciphertext in field `holder` (the same for every event)."""
    return _built(EncryptedRef, {"enc": ALGORITHM, "in_": holder})


def _sealed(event: E, key: DataKey, clear: list[tuple[str, Any]], nonce: bytes) -> E:
    if not clear:
        return event
    aad = associated_data(event.source, event.id, event.subject, EVENT_SCOPE)
    ct = key.cipher.encrypt(nonce, orjson.dumps(dict(clear)), aad)  # enums as their values
    holder = clear[0][0]
    sealed = _built(EncryptedField, {"enc": ALGORITHM, "kid": key.kid, "iv": _b64(nonce),
                                     "ct": _b64(ct), "of": EVENT_SCOPE})  # fmt: skip
    updates: dict[str, Any] = dict.fromkeys((name for name, _ in clear[1:]), _reference(holder))
    updates[holder] = sealed
    return _with(event, {"data": _with(event.data, updates)})


def open_event(event: E, keys: dict[str, DataKey]) -> E:
    """The event with each encrypted field whose key is in `keys` (by kid) in clear.

    A field whose key is absent (destroyed), whose ciphertext does not open under the
    associated data of this event (moved from another one), or whose reference names no
    event ciphertext holding its value, stays encrypted.
    """
    data = event.data
    sealed = sealed_values(data)
    if not sealed:
        return event
    opened: dict[str, dict[str, Any] | None] = {}  # field holding a ciphertext -> plaintext
    updates: dict[str, Any] = {}
    for name, value in sealed:
        if isinstance(value, EncryptedRef):
            holder = data.__dict__.get(value.in_)
            if not isinstance(holder, EncryptedField) or holder.of != EVENT_SCOPE:
                continue
            where = value.in_
        else:
            holder, where = value, name
        if where not in opened:
            opened[where] = _plaintext(event, where, holder, keys)
        plain = opened[where]
        if plain is not None and name in plain:
            updates[name] = _converter(type(data), name)(plain[name])
    if not updates:
        return event
    return _with(event, {"data": _with(data, updates)})


def _plaintext(
    event: Event[Any], name: str, sealed: EncryptedField, keys: dict[str, DataKey]
) -> dict[str, Any] | None:
    """The clear values the ciphertext in field `name` holds, by field name; None when
    its key is absent or not the subject's, or it does not open in this place."""
    key = keys.get(sealed.kid)
    if key is None or key.volunteer_id != event.subject:
        return None
    path = EVENT_SCOPE if sealed.of == EVENT_SCOPE else field_path(name)
    aad = associated_data(event.source, event.id, event.subject, path)
    try:
        iv, ct = binascii.a2b_base64(sealed.iv), binascii.a2b_base64(sealed.ct)
        value = orjson.loads(key.cipher.decrypt(iv, ct, aad))
    except (InvalidTag, ValueError):
        return None
    if sealed.of != EVENT_SCOPE:
        return {name: value}
    return value if isinstance(value, dict) else None


async def seal_each(keys: KeyService, events: Sequence[E]) -> list[E | None]:
    """Every event with its clear personal fields encrypted (one key lookup for all);
    None in place of an event of a volunteer whose key was destroyed (erased)."""
    clear = [_clear(event) for event in events]
    todo = [event.subject for event, values in zip(events, clear, strict=True) if values]
    if not todo:
        return list(events)
    found = await keys.keys_for(todo)
    nonces = os.urandom(NONCE_BYTES * len(events))  # one read of the random source
    return [
        e if not values
        else _sealed(e, found[e.subject], values, nonces[n * NONCE_BYTES : (n + 1) * NONCE_BYTES])
        if e.subject in found else None
        for n, (e, values) in enumerate(zip(events, clear, strict=True))
    ]  # fmt: skip


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
        if isinstance(sealed, EncryptedField)
    }


async def open_events(keys: KeyService, events: Sequence[E]) -> list[E]:
    """Every event with the encrypted fields it can open in clear (one lookup for all)."""
    kids = kids_of(events)
    if not kids:
        return list(events)
    found = await keys.keys_by_id(kids)
    return [open_event(e, found) if sealable_fields(type(e.data)) else e for e in events]
