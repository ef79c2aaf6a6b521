"""Decode errors a partner can act on, safe to log: `DecodeError` and its `FieldError`s.

Messages name the rule broken and, for fields that are not personal data, the offending
value (shortened). Values of personal-data and free-text fields, of unknown fields and of
whole objects are never echoed: these errors go to logs, HTTP answers and dead-letter
headers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from schemas import common


class Reason(StrEnum):
    """Why raw bytes did not decode into an event (machine-readable)."""

    TOO_LARGE = "too_large"
    INVALID_JSON = "invalid_json"
    NOT_AN_OBJECT = "not_an_object"
    UNKNOWN_TYPE = "unknown_type"
    UNSUPPORTED_VERSION = "unsupported_version"
    INVALID_EVENT = "invalid_event"


# HTTP status a gateway should answer with for each reason (RFC 9457 problem details).
_STATUS = {
    Reason.TOO_LARGE: 413,
    Reason.INVALID_JSON: 400,
    Reason.NOT_AN_OBJECT: 400,
}


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

    def to_problem(self) -> dict[str, Any]:
        """An RFC 9457 problem+json body (`type`, `title`, `status`, `detail`, `errors`)."""
        return {
            "type": f"urn:tatawwu:problem:{self.reason}",
            "title": f"Event rejected: {self.reason}",
            "status": _STATUS.get(self.reason, 422),
            "detail": self.summary() if self.omitted else self.detail,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "errors": [error.as_dict() for error in self.errors],
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
    common.PHONE_PATTERN: "an E.164 phone number: '+' then 8-15 digits, no spaces",
    common.EMAIL_PATTERN: "an email address: a local part, '@', and a domain with a dot",
    common.TEXT_PATTERN: "non-blank text without control characters",
}

_SHOWN_CHARS = 40
# Rules whose offending string is worth showing and is not free text: a wrong enum value,
# a malformed date. Strings breaking a pattern or a length may be anything a partner put
# in the wrong field (a name, a phone number), so only their length is reported.
_ECHOED_RULES = frozenset({"enum", "format", "timezone"})


def _describe(rule: str, value: Any) -> str:
    """What to say about the offending value, without echoing arbitrary text."""
    if isinstance(value, bool | int | float) or value is None:
        text = json.dumps(value)
        return f"got {text[:_SHOWN_CHARS]}..." if len(text) > _SHOWN_CHARS else f"got {text}"
    if isinstance(value, str):
        if rule in _ECHOED_RULES:
            shown = value if len(value) <= _SHOWN_CHARS else value[:_SHOWN_CHARS] + "..."
            return f"got {shown!r}"
        return f"got a string of {len(value)} characters"
    return "got an array" if isinstance(value, list) else "got an object"


_PATH_PART_CHARS = 64


def _path(loc: tuple[int | str, ...]) -> str:
    # Unknown keys come from the input: keep a 60 KB key from becoming a 60 KB path.
    parts = (str(part) for part in loc)
    return ".".join(
        p if len(p) <= _PATH_PART_CHARS else p[:_PATH_PART_CHARS] + "..." for p in parts
    )


def field_error(detail: ErrorDetails) -> FieldError:
    """Translate one pydantic error into a `FieldError`, redacting personal data."""
    kind = detail["type"]
    loc = tuple(detail["loc"])
    ctx = detail.get("ctx") or {}
    if "field" in ctx:  # cross-field rules name the field they are reported at
        loc = (*loc, ctx["field"])
    elif kind == "subject_mismatch":
        loc = ("subject",)
    rule = _RULES.get(kind) or ("type" if kind.endswith("_type") else kind)
    text = detail["msg"]
    if rule == "pattern":
        text = f"must be {_PATTERN_NAMES.get(ctx.get('pattern', ''), 'in the documented format')}"
    message = f"{rule}: {text}"
    names = [part for part in loc if isinstance(part, str)]
    redact = rule == "unknown_field" or bool(names and names[-1] in common.REDACTED_FIELDS)
    if rule != "missing":
        described = "value redacted" if redact else _describe(rule, detail.get("input"))
        message += f" ({described})"
    return FieldError(_path(loc), rule, message)


def field_errors(exc: ValidationError, limit: int | None = None) -> tuple[FieldError, ...]:
    """The first `limit` (default: all) errors of a pydantic `ValidationError`."""
    details = exc.errors(include_url=False)
    return tuple(field_error(detail) for detail in details[:limit])
