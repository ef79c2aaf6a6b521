"""The CloudEvents 1.0 envelope (structured JSON mode) every Tatawwu event travels in.

`Event[DataT]` is the generic envelope; the registry derives one concrete subclass per
(type, version) with `type` and `dataschema` pinned to literals, which lets pydantic pick
the class from the `type` attribute while parsing JSON (a discriminated union).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Generic, Literal, Self, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from schemas.common import EVENT_ID_PATTERN, SOURCE_PATTERN, EventId, Id, Instant

DataT = TypeVar("DataT", bound=BaseModel)

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
TYPE_PATTERN = r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$"
DATASCHEMA_PATTERN = r"^urn:tatawwu:[a-z][a-z_]*(\.[a-z][a-z_]*)+:v[1-9][0-9]{0,3}$"
_DATASCHEMA_RE = re.compile(r"urn:tatawwu:(?P<type>[a-z][a-z_.]*):v(?P<version>[1-9][0-9]{0,3})")

Source = Annotated[str, StringConstraints(pattern=SOURCE_PATTERN)]
CorrelationId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]


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
    `correlationid` is the one CloudEvents extension attribute accepted (gateway tracing).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)

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
    data: DataT

    @model_validator(mode="after")
    def _subject_is_key(self) -> Self:
        if self.key_field and self.subject != getattr(self.data, self.key_field):
            raise PydanticCustomError(
                "subject_mismatch",
                "subject must equal data.{key_field} (the Kafka key of this topic)",
                {"key_field": self.key_field},
            )
        return self

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
