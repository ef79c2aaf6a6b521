"""Personal fields and their encrypted form on the canonical topics (crypto-shredding).

The contract marks every field that is personal data with `Personal[T]` (or, for old
versions that are only ever decoded, `PersonalMark`): its JSON Schema carries
`"x-tatawwu-personal": true`, so the published documents and the AsyncAPI say which
fields are personal.

A personal field travels in one of two forms, told apart by JSON kind:

- clear: the value itself (`"Amina"`, `1990`), as partners send it to the gateway or to
  their ingress topic, and as records written before encryption existed hold it;
- encrypted: an *encrypted-field object*, what the platform writes on the canonical
  topics: `{"enc": "aes-256-gcm", "kid": "<data key id>", "iv": "<12 bytes>",
  "ct": "<ciphertext and 16-byte tag>"}` (`iv` and `ct` in base64, RFC 4648 §4). The
  plaintext is the field's value as compact JSON; the associated data binds it to one
  place in one event: `associated_data(source, id, subject, path)`, so a ciphertext
  copied into another event, another volunteer or another field does not open.

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
CT_MAX = 2048  # the longest plaintext (a 200-character name as \\u escapes) fits
# Base64 characters then padding, not a pattern of 4-character groups: a bounded
# repetition of a group compiles to a large automaton (measured: 3x the decoding time).
CT_PATTERN = rf"^[A-Za-z0-9+/]{{20,{CT_MAX}}}={{0,2}}$"  # at least the 16-byte tag
CLEAR_TAG, SEALED_TAG = "(clear)", "(encrypted)"
"""Union tags pydantic puts in error locations; `schemas.errors` leaves them out."""


class EncryptedField(BaseModel):
    """An encrypted personal field: AES-256-GCM under the volunteer's data key `kid`."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", strict=True,
        json_schema_extra={
            "description": "A personal field encrypted by the platform (AES-256-GCM; `iv` "
            "and `ct`, ciphertext then 16-byte tag, in base64). The plaintext is the field's value as JSON; the "
            "associated data is `<source> <id> <subject> data.<field>` (UTF-8). Partners "
            "send the field in clear; the platform encrypts it on the canonical topics."
        },
    )  # fmt: skip

    enc: Literal["aes-256-gcm"]
    kid: Annotated[str, StringConstraints(pattern=KID_PATTERN)]
    iv: Annotated[str, StringConstraints(pattern=IV_PATTERN)]
    ct: Annotated[str, StringConstraints(pattern=CT_PATTERN)]


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
    # By JSON kind: an object is the encrypted form; any other kind is the clear value.
    return SEALED_TAG if isinstance(value, dict | EncryptedField) else CLEAR_TAG


_T = TypeVar("_T")

Personal = Annotated[
    Annotated[_T, Tag(CLEAR_TAG)] | Annotated[EncryptedField, Tag(SEALED_TAG)],
    Discriminator(_form),
    PERSONAL_MARK,
]
"""A personal field: the value in clear, or its encrypted-field object (`EncryptedField`)."""

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


def sealed_values(data: BaseModel) -> list[tuple[str, EncryptedField]]:
    """The encrypted fields of a payload, by name."""
    return [
        (name, value)
        for name in sealable_fields(type(data))
        if isinstance(value := getattr(data, name), EncryptedField)
    ]


def clear_values(data: BaseModel) -> list[tuple[str, Any]]:
    """The personal fields of a payload that were sent and are in clear, by name."""
    return [
        (name, getattr(data, name))
        for name in sealable_fields(type(data))
        if name in data.model_fields_set and getattr(data, name) is not None
        and not isinstance(getattr(data, name), EncryptedField)
    ]  # fmt: skip


__all__ = [
    "ALGORITHM",
    "PERSONAL",
    "EncryptedField",
    "Personal",
    "PersonalMark",
    "associated_data",
    "clear_type",
    "clear_values",
    "field_path",
    "personal_fields",
    "sealable_fields",
    "sealed_values",
]
