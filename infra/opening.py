"""Open encrypted records before decoding them: one parse, one decryption, one validation.

A consumer of the canonical topics used to decode an encrypted registration (pydantic
validating every personal field's encrypted form: the ciphertext, seven references) and
then open it (`infra.sealing.open_event`: the ciphertext opened, each value converted,
payload and event copied), paying both on top of what the same record costs in clear.
Here, before decoding, a record written as the platform writes (structured mode, one
event ciphertext, `schemas.personal`) is parsed once, its ciphertext opened under the
associated data of the record's own envelope, the clear values put in place of the
ciphertext and its references, and the result decoded as the clear record it stands for:
the same event `open_event` gives, its values validated once more on the way.

Anything else decodes and opens as before (`infra.sealing`): a record whose key is
destroyed (an erased volunteer) or unknown, whose ciphertext does not open here (moved
from another event or volunteer), whose forms are not exactly the platform's (extra
keys, per-field ciphertexts of older records, a reference to something else), or which
is not JSON. Nothing that would be refused decodes here instead: the envelope and every
clear value are validated as a clear record's are, and only the holder of the volunteer's
key (the platform) can write a ciphertext that opens.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag

from infra.keys import DataKey, KeyService
from schemas.decode import MAX_EVENT_BYTES
from schemas.personal import ALGORITHM, EVENT_SCOPE, associated_data

MARK = b'"of":"data"'  # an event ciphertext, as the platform's encoder writes it
ERASURE_MARK = b'"volunteer.erased"'
_HOLDER_KEYS = frozenset({"enc", "kid", "iv", "ct", "of"})
_REF_KEYS = frozenset({"enc", "in"})

Candidate = tuple[dict[str, Any], str, str]  # the parsed record, its holder field, the kid


def candidate(raw: bytes | None) -> Candidate | None:
    """The parsed record, the field holding its event ciphertext and the key id, when the
    record looks like one the platform encrypted (pure; None: decode it as before)."""
    if not raw or MARK not in raw or len(raw) > MAX_EVENT_BYTES:
        return None
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict):
        return None
    holder = None
    for name, value in data.items():
        if type(value) is dict and value.get("of") == EVENT_SCOPE:
            if holder is not None or value.keys() != _HOLDER_KEYS:
                return None  # two ciphertexts, or not exactly the platform's form
            holder = name
    if holder is None or not isinstance(kid := data[holder].get("kid"), str):
        return None
    return doc, holder, kid


def opened(found: Candidate, key: DataKey | None) -> bytes | None:
    """The record with its personal fields in clear, as bytes to decode; None when it does
    not open here (no key, another volunteer's key, a ciphertext moved or altered, a
    reference the ciphertext does not answer) (pure)."""
    doc, holder, _ = found
    subject, source, event_id = doc.get("subject"), doc.get("source"), doc.get("id")
    if key is None or key.volunteer_id != subject:
        return None
    if not (isinstance(source, str) and isinstance(event_id, str)):
        return None
    data: dict[str, Any] = doc["data"]
    sealed = data[holder]
    if sealed.get("enc") != ALGORITHM:
        return None
    try:
        iv, ct = binascii.a2b_base64(sealed["iv"]), binascii.a2b_base64(sealed["ct"])
        plain = orjson.loads(key.cipher.decrypt(
            iv, ct, associated_data(source, event_id, subject, EVENT_SCOPE)))  # fmt: skip
    except (InvalidTag, ValueError, TypeError, binascii.Error):
        return None
    if not isinstance(plain, dict) or holder not in plain:
        return None
    clear = dict(data)
    for name, value in data.items():
        if type(value) is not dict or "enc" not in value:
            continue
        if name != holder and not (
            value.keys() == _REF_KEYS and value["enc"] == ALGORITHM and value["in"] == holder
        ):
            return None
        if name not in plain:
            return None  # a reference the ciphertext does not answer: stays encrypted
        clear[name] = plain[name]
    doc = dict(doc)
    doc["data"] = clear
    return orjson.dumps(doc)


def erased_in(values: Sequence[bytes | None]) -> set[str]:
    """The volunteers a batch erases (`volunteer.erased` records, structured mode)."""
    subjects: set[str] = set()
    for raw in values:
        if raw and ERASURE_MARK in raw:
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict) and doc.get("type") == "volunteer.erased":
                subject = doc.get("subject")
                if isinstance(subject, str):
                    subjects.add(subject)
    return subjects


async def open_records(keys: KeyService, values: Sequence[bytes | None]) -> dict[int, bytes]:
    """The values (by position) that open before decoding, opened (one key lookup).

    A batch erasing a volunteer first makes the key service forget their key, and opens
    none of their records (as `infra.sealing` does after decoding).
    """
    erased = erased_in(values)
    for volunteer_id in erased:
        keys.forget(volunteer_id)
    found = {
        n: c for n, raw in enumerate(values)
        if (c := candidate(raw)) is not None and c[0].get("subject") not in erased
    }  # fmt: skip
    if not found:
        return {}
    by_kid = await keys.keys_by_id({kid for _, _, kid in found.values()})
    out = {}
    for n, c in found.items():
        if (value := opened(c, by_kid.get(c[2]))) is not None:
            out[n] = value
    return out
