"""structlog, configured once: JSON lines off a terminal, readable console on one, PII redacted.

Every unit of work binds its context (correlation_id, topic, partition, offset,
projector...) with `bind_contextvars`; the redaction processor runs last before
rendering so no phone number, email or personal name reaches a log line.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid
from collections.abc import Mapping, MutableMapping
from typing import Any

import orjson
import structlog
from structlog.contextvars import bind_contextvars, get_contextvars

# International (+974 5555 1234), bare 8-15 digit runs, and Qatar-style "5555 1234".
# Dates, times and dotted versions do not match: they are not phone-shaped.
PHONE = re.compile(r"\+\d(?:[ .-]?\d){6,14}\b|(?<![\w.:-])(?:\d{8,15}|\d{4}[ ]\d{4})(?![\w.:-])")
EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# Keys whose values are personal data whatever they look like.
# Organisation names are public; people's names are not.
PERSONAL_KEYS = frozenset({
    "full_name", "given_name", "family_name", "phone", "email", "recipient", "to",
    "password", "token", "authorization", "api_key", "partner_key",
})  # fmt: skip
REDACTED = "[redacted]"


def _redact_text(text: str) -> str:
    return PHONE.sub("[phone]", EMAIL.sub("[email]", text))


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, str):
        return _redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: REDACTED if str(k).lower() in PERSONAL_KEYS else _redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_redact(v, depth + 1) for v in value]
    return value


def redact_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: blank personal keys and mask phones and emails in every value."""
    for key, value in list(event_dict.items()):
        if key.lower() in PERSONAL_KEYS:
            event_dict[key] = REDACTED
        elif isinstance(value, str | Mapping | list | tuple):
            event_dict[key] = _redact(value)
    return event_dict


_configured = False


def _json(value: Any, **_: Any) -> str:
    """One JSON log line (orjson: a busy sender writes one per message); what JSON cannot
    say is written as its repr, as structlog's own renderer does."""
    return orjson.dumps(value, default=repr).decode()


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """Configure structlog and the stdlib root logger once per process."""
    global _configured
    if _configured:
        return
    _configured = True
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_personal_data,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=_json)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Libraries (aiokafka, uvicorn, faststream) log through stdlib: same redaction and format.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


def new_correlation_id() -> str:
    """A fresh correlation id for a unit of work that arrived without one."""
    return uuid.uuid4().hex


def bind_correlation_id(correlation_id: str | None = None) -> str:
    """Bind (or create) the correlation id for the current context and return it."""
    cid = correlation_id or new_correlation_id()
    bind_contextvars(correlation_id=cid)
    return cid


def current_correlation_id() -> str | None:
    """The correlation id bound in this context, if any."""
    value = get_contextvars().get("correlation_id")
    return str(value) if value else None


def correlation_headers() -> list[tuple[str, bytes]]:
    """Kafka headers carrying the current correlation id (empty when none is bound).

    Deprecated with the `correlation_id` header itself: W3C `traceparent` (infra.tracing)
    replaces it; written and read for one more release.
    """
    cid = current_correlation_id()
    return [("correlation_id", cid.encode())] if cid else []


def correlation_from_headers(headers: Any) -> str | None:
    """Read the correlation id from Kafka record headers (a sequence of (key, bytes))."""
    for key, value in headers or ():
        if key == "correlation_id" and value:
            return bytes(value).decode("utf-8", "replace")
    return None
