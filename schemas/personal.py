"""Personal fields and their encrypted form on the canonical topics (crypto-shredding).

The contract marks every field that is personal data with `Personal[T]` (or, for old
versions that are only ever decoded, `PersonalMark`): its JSON Schema carries
`"x-tatawwu-personal": true`, so the published documents and the AsyncAPI say which
fields are personal.

A personal field travels in one of these forms, told apart by JSON kind and keys:

- clear: the value itself (`"Amina"`, `1990`), as partners send it to the gateway or to
  their ingress topic, and as records written before encryption existed hold it;
- encrypted, one ciphertext per event (what the platform writes on the canonical topics):
  the event's first personal field holds the *event ciphertext* `{"enc": "aes-256-gcm",
  "kid": "<data key id>", "iv": "<12 bytes>", "ct": "<ciphertext and 16-byte tag>", "of":
  "data"}`, whose plaintext is the JSON object of every personal field the event sets
  (`{"given_name": "Amina", "phone": ...}`), associated data `associated_data(source, id,
  subject, "data")`; every other personal field holds a *reference* to it, `{"enc":
  "aes-256-gcm", "in": "<the field holding the ciphertext>"}`. One AES-GCM
  operation, one nonce and one base64 text per event, not one per field;
- encrypted, one ciphertext per field (written before the event form, still opened): the
  same object without `of`, its plaintext the field's value, associated data
  `associated_data(source, id, subject, "data.<field>")`.

`iv` and `ct` are base64 (RFC 4648 §4). The associated data binds a ciphertext to one
event and volunteer, so a ciphertext copied into another event or volunteer does not
open; a reference opens only its own field's value from its own event's ciphertext.

One data key per volunteer (`kid` names it); destroying it makes every encrypted field of
that volunteer, in every record ever written, unreadable: erasure on a log that is kept
forever. Keys and the cipher live in `infra.keys`; this module only describes the form
(no I/O, no cryptography).
"""

from __future__ import annotations

import functools
import typing
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
    Tag,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

PERSONAL = "x-tatawwu-personal"
"""The JSON Schema keyword marking a personal field (value `true`)."""
ALGORITHM = "aes-256-gcm"
KID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"
IV_PATTERN = r"^[A-Za-z0-9+/]{16}$"  # 12 bytes, base64 (RFC 4648 section 4)
CT_MIN = 20  # at least the 16-byte tag
CT_MAX = 16_384  # every personal field of an event at its longest (names as \\u escapes) fits
# Base64 characters then padding, the length bounded apart: a bounded repetition in the
# pattern compiles to a large automaton (measured: 3x the decoding time).
CT_PATTERN = r"^[A-Za-z0-9+/]+={0,2}$"
EVENT_SCOPE = "data"
"""`of` of an event ciphertext, and the path its associated data names: the whole payload."""
FIELD_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
CLEAR_TAG, SEALED_TAG, REF_TAG = "(clear)", "(encrypted)", "(reference)"
"""Union tags pydantic puts in error locations; `schemas.errors` leaves them out."""


def _is_none(value: Any) -> bool:
    return value is None


class EncryptedField(BaseModel):
    """A ciphertext: AES-256-GCM under the volunteer's data key `kid`, of the event's
    personal fields (`of: "data"`) or of this field alone (no `of`, the older form)."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True,
        json_schema_extra={
            "description": "Personal data encrypted by the platform (AES-256-GCM; `iv` and "
            "`ct`, ciphertext then 16-byte tag, in base64). With `of: \"data\"` (what the "
            "platform writes) the plaintext is the JSON object of every personal field of "
            "the event, the associated data `<source> <id> <subject> data` (UTF-8), and the "
            "event's other personal fields are references to this one. Without `of` (older "
            "records) the plaintext is this field's value as JSON, the associated data "
            "`<source> <id> <subject> data.<field>`. Partners send personal fields in "
            "clear; the platform encrypts them on the canonical topics."
        },
    )  # fmt: skip

    enc: Literal["aes-256-gcm"]
    kid: Annotated[str, StringConstraints(pattern=KID_PATTERN)]
    iv: Annotated[str, StringConstraints(pattern=IV_PATTERN)]
    ct: Annotated[str, StringConstraints(pattern=CT_PATTERN, min_length=CT_MIN, max_length=CT_MAX)]
    # Absent in the older form (written as it was read: a record re-encoded keeps its bytes).
    of: Literal["data"] | None = Field(default=None, exclude_if=_is_none)


class EncryptedRef(BaseModel):
    """A personal field encrypted with the others: its value is in the event ciphertext
    held by the field `in`."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True, serialize_by_alias=True,
        json_schema_extra={
            "description": "A personal field encrypted by the platform together with the "
            "event's other personal fields: its value is under its own name in the "
            "ciphertext (`EncryptedField`, `of: \"data\"`) that the field named by `in` "
            "holds."
        },
    )  # fmt: skip

    enc: Literal["aes-256-gcm"]
    in_: Annotated[str, StringConstraints(pattern=FIELD_PATTERN)] = Field(alias="in")


Sealed = EncryptedField | EncryptedRef
"""What an encrypted personal field holds: a ciphertext, or a reference to the event's."""
# Exact types (neither is subclassed): `isinstance` of a pydantic model is an ABC check,
# measured at 10x a type lookup on the gateway's hot path.
_SEALED = frozenset({EncryptedField, EncryptedRef})


class _Mark:
    """Adds `x-tatawwu-personal: true` to a field's JSON Schema."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema[PERSONAL] = True
        return json_schema

    def __repr__(self) -> str:
        return "PersonalMark"


PERSONAL_MARK = _Mark()


def _form(value: Any) -> str:
    # By JSON kind: an object is encrypted (a reference when it has `in`); any other kind
    # is the clear value.
    if isinstance(value, dict):
        return REF_TAG if "in" in value else SEALED_TAG
    if isinstance(value, EncryptedField):
        return SEALED_TAG
    return REF_TAG if isinstance(value, EncryptedRef) else CLEAR_TAG


_T = TypeVar("_T")

Personal = Annotated[
    Annotated[_T, Tag(CLEAR_TAG)]
    | Annotated[EncryptedField, Tag(SEALED_TAG)]
    | Annotated[EncryptedRef, Tag(REF_TAG)],
    Discriminator(_form),
    PERSONAL_MARK,
]
"""A personal field: the value in clear, a ciphertext (`EncryptedField`) or a reference to
the event's ciphertext (`EncryptedRef`)."""

PersonalMark = Annotated[_T, PERSONAL_MARK]
"""A personal field of a version that is only decoded (never written by the platform)."""


@functools.cache
def personal_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The names of the payload fields marked personal, in declaration order."""
    hints = typing.get_type_hints(model, include_extras=True)
    return tuple(name for name in model.model_fields if _marked(hints.get(name)))


@functools.cache
def sealable_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The personal fields that may travel encrypted (`Personal`, not `PersonalMark`)."""
    hints = typing.get_type_hints(model, include_extras=True)
    return tuple(name for name in personal_fields(model) if _accepts_sealed(hints[name]))


@functools.cache
def clear_type(model: type[BaseModel], name: str) -> Any:
    """The clear form of a personal field (what its plaintext validates against)."""
    hint = typing.get_type_hints(model, include_extras=True)[name]
    for item in _walk(hint):
        if typing.get_origin(item) is Annotated and Tag(CLEAR_TAG) in item.__metadata__:
            return item
    msg = f"{model.__name__}.{name} is not a Personal field"
    raise LookupError(msg)


def _walk(hint: Any) -> typing.Iterator[Any]:
    yield hint
    if typing.get_origin(hint) is Annotated:
        yield from hint.__metadata__
    for arg in typing.get_args(hint):
        yield from _walk(arg)


def _marked(hint: Any) -> bool:
    return any(item is PERSONAL_MARK for item in _walk(hint))


def _accepts_sealed(hint: Any) -> bool:
    return any(item is EncryptedField for item in _walk(hint))


def field_path(name: str) -> str:
    """The path of a payload field in the event, as the associated data names it."""
    return f"data.{name}"


def associated_data(source: str, event_id: str, subject: str, path: str) -> bytes:
    """What binds one encrypted field to its place: event identity, volunteer, field.

    None of the four can hold a space (their patterns), so the join is unambiguous.
    """
    return f"{source} {event_id} {subject} {path}".encode()


def sealed_values(data: BaseModel) -> list[tuple[str, Sealed]]:
    """The encrypted fields of a payload (ciphertexts and references), by name."""
    values = data.__dict__
    return [
        (name, value)
        for name in sealable_fields(type(data))
        if type(value := values[name]) in _SEALED
    ]


def clear_values(data: BaseModel) -> list[tuple[str, Any]]:
    """The personal fields of a payload that were sent and are in clear, by name."""
    values, sent = data.__dict__, data.__pydantic_fields_set__
    return [
        (name, value)
        for name in sealable_fields(type(data))
        if name in sent and (value := values[name]) is not None
        and type(value) not in _SEALED
    ]  # fmt: skip


__all__ = [
    "ALGORITHM",
    "EVENT_SCOPE",
    "PERSONAL",
    "EncryptedField",
    "EncryptedRef",
    "Personal",
    "PersonalMark",
    "Sealed",
    "associated_data",
    "clear_type",
    "clear_values",
    "field_path",
    "personal_fields",
    "sealable_fields",
    "sealed_values",
]
