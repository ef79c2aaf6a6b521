"""Decode errors a partner can act on, safe to log: `DecodeError` and its `FieldError`s.

Messages say where (the path), which rule and what the rule asks for ("must be an E.164
phone number", "String should have at most 200 characters"), never what was sent: no value
of any field is echoed, personal or not, since these errors go to logs, HTTP answers,
dead-letter headers and the `_deadletters` table. A type error says which JSON kind came
(a number, an array), nothing more.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, get_args

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_core.core_schema import ErrorType

from schemas import common, personal


class Reason(StrEnum):
    """Why raw bytes did not decode into an event (machine-readable)."""

    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_EVENT = "invalid_event"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One broken rule: where (`data.phone`), which rule (`pattern`), and a message."""

    path: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        """The JSON form used in problem+json `errors` arrays."""
        return {"path": self.path, "rule": self.rule, "message": self.message}


@dataclass(frozen=True, slots=True)
class DecodeError:
    """Raw input that is not a valid event, with everything known about it.

    `event_id` and `event_type` are filled in when they could be read and look sane, so
    that dead-letter records and gateway answers can name the event.
    """

    reason: Reason
    detail: str
    errors: tuple[FieldError, ...] = field(default=())
    event_id: str | None = None
    event_type: str | None = None
    omitted: int = 0  # field errors beyond those listed (hostile inputs produce thousands)

    def summary(self) -> str:
        """One line for logs: reason, detail and the first few field errors."""
        parts = [f"{self.reason}: {self.detail}"]
        parts += [f"{error.path}: {error.message}" for error in self.errors[:3]]
        if (more := len(self.errors) + self.omitted - 3) > 0:
            parts.append(f"and {more} more")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every attribute."""
        return {
            "reason": str(self.reason),
            "detail": self.detail,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "errors": [error.as_dict() for error in self.errors],
            "omitted": self.omitted,
        }


# pydantic error types -> rule names (JSON Schema keyword names where one fits).
_RULES = {
    "missing": "missing",
    "extra_forbidden": "unknown_field",
    "string_pattern_mismatch": "pattern",
    "string_too_short": "min_length",
    "string_too_long": "max_length",
    "enum": "enum",
    "literal_error": "enum",
    "union_tag_invalid": "enum",
    "greater_than": "exclusive_minimum",
    "greater_than_equal": "minimum",
    "less_than": "exclusive_maximum",
    "less_than_equal": "maximum",
    "finite_number": "finite",
    "timezone_aware": "timezone",
    "datetime_parsing": "format",
    "datetime_from_date_parsing": "format",
    "date_parsing": "format",
    "date_from_datetime_parsing": "format",
}

# Patterns explained in words a partner's developer understands.
_PATTERN_NAMES = {
    common.ID_PATTERN: "an id: 1-64 letters, digits, '.', '_', ':' or '-', not starting with "
    "punctuation",
    common.EVENT_ID_PATTERN: "an event id: 1-128 letters, digits, '.', '_', ':' or '-', not "
    "starting with punctuation",
    common.SOURCE_PATTERN: "'partner/<org_id>' or 'platform/<component>'",
    common.TEMPLATE_PATTERN: "a template name: lowercase letters, digits and '_'",
    common.EXTENSION_NAME_PATTERN: "an extension attribute name: 1-20 lowercase letters "
    "a-z or digits 0-9",
    common.TRACEPARENT_PATTERN: "a W3C traceparent: version-trace_id-parent_id-flags in "
    "lowercase hex (00-<32 hex>-<16 hex>-<2 hex>)",
    common.TRACESTATE_PATTERN: "a W3C tracestate: 1-512 printable ASCII characters",
    common.PHONE_PATTERN: "an E.164 phone number: '+' then 8-15 digits, no spaces",
    common.EMAIL_PATTERN: "an email address: a local part, '@', and a domain with a dot",
    common.TEXT_PATTERN: "non-blank text without control characters (C0, C1, DEL), line or "
    "paragraph separators (U+2028, U+2029) or bidi embedding, override or isolate controls "
    "(U+202A-U+202E, U+2066-U+2069)",
}

# pydantic's own messages quote only the schema's constraints, except these, which can carry
# what was sent or arbitrary exception text (a discriminator tag, a validator's message).
_BUILTIN_KINDS = frozenset(get_args(ErrorType))
_ECHO_MIN_CHARS = 4  # shorter strings occur in messages by chance ("ar" in "characters")
_UNSAFE_KINDS = frozenset(
    {
        "union_tag_invalid",
        "value_error",
        "assertion_error",
        "no_such_attribute",
        "get_attribute_error",
        "iteration_error",
        "mapping_type",
        "datetime_object_invalid",
        "timezone_offset",
        "bytes_invalid_encoding",
        "url_parsing",
        "url_syntax_violation",
        "uuid_parsing",
    }
)
_PLAIN_MESSAGES = {
    "union_tag_invalid": "unknown event type (see `tatawwu schemas export` for the catalog)",
    "datetime_object_invalid": "must be a valid date-time",
    "timezone_offset": "has a time zone offset that is not accepted here",
}


def _kind_of(value: Any) -> str:
    """The JSON kind of a value, never the value itself."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list | tuple) else "an object"


def _constraint(kind: str, rule: str, detail: ErrorDetails) -> str:
    """What the rule asks for, in words built from the schema, never from the input."""
    if rule == "pattern":
        pattern = (detail.get("ctx") or {}).get("pattern", "")
        return f"must be {_PATTERN_NAMES.get(pattern, 'in the documented format')}"
    message = detail["msg"]
    sent = detail.get("input")
    # Custom kinds (`order`, `too_young`, `not_clearable`, `out_of_range`...) are raised by
    # schemas/ with messages built from constants. Built-in ones quote constraints, except the
    # unsafe few; the containment check guards against kinds a later pydantic adds.
    echoed = isinstance(sent, str) and len(sent) >= _ECHO_MIN_CHARS and sent in message
    if kind in _UNSAFE_KINDS or (kind in _BUILTIN_KINDS and echoed):
        return _PLAIN_MESSAGES.get(kind, "is not a valid value here (see the published schema)")
    return message


_PATH_PART_CHARS = 64
_FORM_TAGS = frozenset({personal.CLEAR_TAG, personal.SEALED_TAG, personal.REF_TAG})


def _path(loc: tuple[int | str, ...]) -> str:
    # Unknown keys come from the input: keep a 60 KB key from becoming a 60 KB path, and
    # control or bidi characters in one from breaking or reordering a log line.
    parts = (str(part)[: _PATH_PART_CHARS + 1] for part in loc)
    shown = (p if p.isprintable() else json.dumps(p)[1:-1] for p in parts)
    return ".".join(
        p if len(p) <= _PATH_PART_CHARS else p[:_PATH_PART_CHARS] + "..." for p in shown
    )


def field_error(detail: ErrorDetails) -> FieldError:
    """Translate one pydantic error into a `FieldError` that quotes no input value."""
    kind = detail["type"]
    # A personal field's form (clear or encrypted) is a union tag, not part of its path.
    loc = tuple(part for part in detail["loc"] if part not in _FORM_TAGS)
    ctx = detail.get("ctx") or {}
    if "field" in ctx:  # cross-field rules name the field they are reported at
        loc = (*loc, ctx["field"])
    elif kind == "subject_mismatch":
        loc = ("subject",)
    rule = _RULES.get(kind) or ("type" if kind.endswith("_type") else kind)
    message = f"{rule}: {_constraint(kind, rule, detail)}"
    if rule == "type":
        message += f" (got {_kind_of(detail.get('input'))})"
    return FieldError(_path(loc), rule, message)


def field_errors(exc: ValidationError, limit: int | None = None) -> tuple[FieldError, ...]:
    """The first `limit` (default: all) errors of a pydantic `ValidationError`."""
    details = exc.errors(include_url=False)
    return tuple(field_error(detail) for detail in details[:limit])
