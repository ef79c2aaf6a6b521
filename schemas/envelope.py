"""The CloudEvents 1.0 envelope (structured JSON mode) every Tatawwu event travels in.

`Event[DataT]` is the generic envelope; the registry derives one concrete subclass per
(type, version) with `type` and `dataschema` pinned to literals, which lets pydantic pick
the class from the `type` attribute while parsing JSON (a discriminated union).

Extension attributes (CloudEvents 1.0 "Extension Context Attributes") are accepted and
passed through unchanged, so an event made by an official CloudEvents SDK with
`partitionkey` or an attribute of its own is not refused. The known ones are declared
(`traceparent`, `tracestate` of the Distributed Tracing extension, `correlationid`);
any other lands in `extensions` and is written back by `encode_event`. The rules:

- names: lowercase a-z and 0-9, 1 to 20 characters. The spec says names SHOULD NOT
  exceed 20 characters; we make that a MUST (it also bounds what a name costs). A name
  cannot collide with a context attribute: every context attribute (`id`, `source`,
  `type`, `specversion`, `time`, `subject`, `datacontenttype`, `dataschema`, `data`) is
  a declared field, and `data_base64` does not match the name pattern (binary payloads
  are not accepted).
- values: the CloudEvents type system as JSON carries it: a string (1-256 characters,
  the same text-safety rules as every other text), a 32-bit signed integer (the spec's
  Integer) or a boolean. URI, URI-reference, Timestamp and Binary values travel as strings.
- at most `MAX_ATTRIBUTES` top-level attributes in all (declared ones included), so a
  hostile record cannot make an event hold thousands of extensions.

Errors name the attribute and the rule, never the value.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from schemas.common import (
    EVENT_ID_PATTERN,
    EXTENSION_NAME_PATTERN,
    SOURCE_PATTERN,
    TEXT_PATTERN,
    TRACEPARENT_PATTERN,
    TRACESTATE_PATTERN,
    EventId,
    Id,
    Instant,
)

DataT = TypeVar("DataT", bound=BaseModel)

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PATTERN = r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$"
DATASCHEMA_PATTERN = r"^urn:tatawwu:[a-z][a-z_]*(\.[a-z][a-z_]*)+:v[1-9][0-9]{0,3}$"
_DATASCHEMA_RE = re.compile(r"urn:tatawwu:(?P<type>[a-z][a-z_.]*):v(?P<version>[1-9][0-9]{0,3})")

Source = Annotated[str, StringConstraints(pattern=SOURCE_PATTERN)]
CorrelationId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]

EXTENSION_TEXT_MAX = 256
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
MAX_ATTRIBUTES = 24
"""Top-level attributes of one event, declared and extension ones together (JSON Schema
`maxProperties`): the ten a Tatawwu event may use leave room for fourteen extensions."""
CONTEXT_ATTRIBUTES = frozenset({
    "id", "source", "type", "specversion", "time", "subject",
    "datacontenttype", "dataschema", "data", "data_base64",
})  # fmt: skip
_EXTENSION_TEXT_RE = re.compile(TEXT_PATTERN)
_EXTENSION_RULE = (
    f"must be a string of 1-{EXTENSION_TEXT_MAX} characters without control or "
    f"bidirectional-override characters, an integer from {INT32_MIN} to {INT32_MAX}, "
    "or a boolean"
)


def _extension_value(value: Any) -> str | int | bool:
    """A CloudEvents extension value, or an error that names the rule (never the value)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and INT32_MIN <= value <= INT32_MAX:
        return value
    if (
        isinstance(value, str)
        and len(value) <= EXTENSION_TEXT_MAX
        and _EXTENSION_TEXT_RE.fullmatch(value)
    ):
        return value
    raise PydanticCustomError("extension_value", _EXTENSION_RULE)


ExtensionValue = Annotated[
    Any,
    PlainValidator(_extension_value),
    WithJsonSchema({
        "anyOf": [
            {"type": "string", "minLength": 1, "maxLength": EXTENSION_TEXT_MAX,
             "pattern": TEXT_PATTERN},
            {"type": "integer", "minimum": INT32_MIN, "maximum": INT32_MAX},
            {"type": "boolean"},
        ]
    }),
]  # fmt: skip
ExtensionName = Annotated[str, StringConstraints(pattern=EXTENSION_NAME_PATTERN)]
Traceparent = Annotated[str, StringConstraints(pattern=TRACEPARENT_PATTERN)]
Tracestate = Annotated[str, StringConstraints(pattern=TRACESTATE_PATTERN)]


def dataschema_for(event_type: str, version: int) -> str:
    """The `dataschema` URN naming one version of one event type."""
    return f"urn:tatawwu:{event_type}:v{version}"


def parse_dataschema(value: str) -> tuple[str, int] | None:
    """`(type, version)` from a Tatawwu `dataschema` URN, or None if it is not one."""
    match = _DATASCHEMA_RE.fullmatch(value)
    if match is None:
        return None
    return match["type"], int(match["version"])


class Event(BaseModel, Generic[DataT]):
    """A CloudEvents 1.0 envelope around a typed payload.

    `subject` is the aggregate id and the Kafka key; it must equal the payload field named
    by the event's topic (`key_field`). `time` is normalised to UTC. `dataschema` always
    holds the version the payload conforms to (absent on the wire means current).
    `traceparent`/`tracestate` (W3C Trace Context) and `correlationid` (the gateway's
    request id before Trace Context; kept for a release) are the known extension
    attributes; any other valid one is kept in `extensions` (see the module docstring).
    """

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        strict=True,
        allow_inf_nan=False,
        json_schema_extra={
            "propertyNames": {"pattern": EXTENSION_NAME_PATTERN},
            "maxProperties": MAX_ATTRIBUTES,
        },
    )
    __pydantic_extra__: dict[ExtensionName, ExtensionValue] = Field(init=False)  # type: ignore[assignment]

    # Set on each concrete subclass by the registry.
    version: ClassVar[int] = 0
    key_field: ClassVar[str] = ""

    specversion: Literal["1.0"]
    id: EventId
    source: Source
    type: Annotated[str, StringConstraints(pattern=TYPE_PATTERN, max_length=64)]
    subject: Id
    time: Instant
    datacontenttype: Literal["application/json"] = CONTENT_TYPE
    dataschema: Annotated[str, StringConstraints(pattern=DATASCHEMA_PATTERN)] | None = None
    correlationid: CorrelationId | None = None
    traceparent: Traceparent | None = None
    tracestate: Tracestate | None = None
    data: DataT

    @model_validator(mode="after")
    def _subject_is_key(self) -> Self:
        if self.key_field and self.subject != getattr(self.data, self.key_field):
            raise PydanticCustomError(
                "subject_mismatch",
                "subject must equal data.{key_field} (the Kafka key of this topic)",
                {"key_field": self.key_field},
            )
        # With extra="allow" the fields set include the extension attributes: one count.
        if self.__pydantic_extra__ and len(self.model_fields_set) > MAX_ATTRIBUTES:
            msg = f"an event has at most {MAX_ATTRIBUTES} attributes, extensions included"
            raise PydanticCustomError("too_many_attributes", msg, {"field": "extensions"})
        return self

    @property
    def extensions(self) -> dict[str, str | int | bool]:
        """The extension attributes this envelope does not declare, passed through as sent."""
        return dict(self.__pydantic_extra__ or {})

    @property
    def key(self) -> str:
        """The Kafka record key: the aggregate id."""
        return self.subject


def make_envelope(
    event_type: str, version: int, model: type[BaseModel], key_field: str
) -> type[Event[Any]]:
    """Derive the concrete envelope class for one (type, version) of a payload model."""
    urn = dataschema_for(event_type, version)
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": (
            f"The `{event_type}` event, version {version}, in a CloudEvents 1.0 envelope. "
            f"`subject` must equal `data.{key_field}` (the Kafka key); `time` is RFC 3339 "
            "with an offset and is normalised to UTC."
        ),
        "__annotations__": {"type": Literal[event_type], "dataschema": Literal[urn]},
        "dataschema": urn,
        "version": version,
        "key_field": key_field,
    }
    base = Event[model]  # type: ignore[valid-type]
    return type(f"{model.__name__}Event", (base,), namespace)
