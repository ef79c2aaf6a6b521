"""RFC 9457 problem details: the one error shape of the gateway and the read API.

Every error either app answers is `application/problem+json` with `type` (a URI per
problem, `https://tatawwu.example/problems/<code>`, each listed in `CATALOG`), `title`
(fixed per type), `status`, `detail` (this occurrence), `instance` (the request path) and
`code` (the type's last segment, the stable short name that metrics and logs use).
Requests about events add `errors`: one entry per refused field or rule, with the batch
`index` of the event it concerns (the per-event result; all or nothing is accepted).
`decode_problem` and `invalid_events` turn `schemas.errors.DecodeError`s into these
documents, for the gateway and for `tatawwu validate --json` alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import orjson
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from schemas.errors import DecodeError, Reason

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "https://tatawwu.example/problems/"
SCHEMA_NAME = "Problem"


class ProblemType(NamedTuple):
    """One documented problem: its usual status, its title and when it is answered."""

    status: int
    title: str
    when: str


CATALOG: dict[str, ProblemType] = {
    "bad_request": ProblemType(400, "Bad request", "The request itself is malformed (headers)."),
    "malformed": ProblemType(
        400, "Malformed request body", "Invalid JSON, neither an object nor an array, or empty."
    ),
    "bad_cursor": ProblemType(
        400,
        "Bad cursor",
        "A pagination cursor is malformed, altered, too long or from another query.",
    ),
    "unauthorized": ProblemType(401, "Unauthorized", "No credentials, or unknown or revoked."),
    "forbidden": ProblemType(
        403, "Forbidden", "The caller may not do this (ownership, source, token scope)."
    ),
    "not_found": ProblemType(404, "Not found", "No such path or resource; `detail` names it."),
    "method_not_allowed": ProblemType(405, "Method not allowed", "The path exists, not the verb."),
    "request_timeout": ProblemType(408, "Request timeout", "The body did not arrive in time."),
    "volunteer_erased": ProblemType(
        409, "Volunteer erased", "The volunteer was erased: their personal data is not taken."
    ),
    "too_large": ProblemType(413, "Request too large", "Body or batch over the limit."),
    "unsupported_media_type": ProblemType(
        415, "Unsupported media type", "Content-Type is not JSON or CloudEvents JSON."
    ),
    "invalid_request": ProblemType(
        422, "Invalid request", "Query or path parameters out of their domain; see `errors`."
    ),
    "invalid_events": ProblemType(
        422, "Invalid events", "Events that do not match the contract; see `errors` per event."
    ),
    "invalid_time": ProblemType(
        422, "Invalid event time", "Event time in the future or before the platform's epoch."
    ),
    "rate_limited": ProblemType(429, "Too many requests", "Over a rate limit; see Retry-After."),
    "internal": ProblemType(500, "Internal server error", "A bug; nothing leaks, see the logs."),
    "database_unavailable": ProblemType(
        503, "Service unavailable", "PostgreSQL cannot be reached; retry after Retry-After."
    ),
    "kafka_unavailable": ProblemType(
        503, "Service unavailable", "Kafka did not acknowledge; retrying the same request is safe."
    ),
    "gateway_unavailable": ProblemType(
        503, "Service unavailable", "The request took longer than the gateway allows; retry."
    ),
    "read_model_unavailable": ProblemType(
        503, "Read model unavailable", "A projector has not created its read model yet; retry."
    ),
    "http_error": ProblemType(400, "HTTP error", "Any other status raised by the framework."),
}

# Framework-raised statuses (routing, method, 500) -> the problem they become.
_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_request",
    500: "internal",
}


def type_uri(code: str) -> str:
    """The `type` URI of a problem code."""
    return TYPE_BASE + code


class FieldError(BaseModel):
    """One thing wrong with a request: where (`index` of the event, `path`) and which rule."""

    model_config = ConfigDict(extra="forbid")

    index: int | None = Field(None, description="The event's position in the batch (0: single)")
    path: str = Field(description="Dotted path of the field, '' for the whole item")
    rule: str = Field(description="The rule broken (a JSON Schema keyword or a Tatawwu rule)")
    message: str = Field(description="What is wrong; never quotes the value sent")
    # The read API's names before the shapes were merged; kept for a release.
    where: str | None = Field(None, deprecated=True, description="Read API only: old `path`")
    problem: str | None = Field(None, deprecated=True, description="Read API only: old `message`")


class ProblemDocument(BaseModel):
    """An RFC 9457 problem details object, as both the gateway and the read API answer it."""

    model_config = ConfigDict(title=SCHEMA_NAME, extra="forbid")

    type: str = Field(
        description="URI of the problem type: " + ", ".join(type_uri(c) for c in CATALOG),
        pattern=r"^https://tatawwu\.example/problems/[a-z_]+$",
        json_schema_extra={"format": "uri"},
    )
    title: str = Field(description="Short summary, the same for every occurrence of the type")
    status: int = Field(ge=100, le=599, description="The HTTP status code")
    detail: str = Field(description="This occurrence, in words")
    instance: str | None = Field(None, description="The request path this answers")
    code: str = Field(description="The type's last segment; stable, used by metrics and logs")
    errors: list[FieldError] | None = Field(None, description="Per event and field, if any")


class Problem(Exception):
    """An HTTP error answer: raise it anywhere in a request, the app renders it."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str | None,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {detail}")
        self.status = status
        self.slug = code
        self.title = title or CATALOG[code].title
        self.detail = detail
        self.errors = list(errors)
        self.retry_after = retry_after

    @property
    def code(self) -> str:
        """The problem's short name (the `type` URI's last segment)."""
        return self.slug

    def body(self, instance: str | None = None) -> dict[str, Any]:
        """The JSON document (`instance` and `errors` only when there are some)."""
        document: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.slug,
        }
        if instance is not None:
            document["instance"] = instance
        if self.errors:
            document["errors"] = self.errors
        return document

    def response(
        self, headers: Mapping[str, str] | None = None, *, instance: str | None = None
    ) -> Response:
        """The response, with Retry-After (whole seconds, at least 1) when set."""
        extra = dict(headers or {})
        if self.retry_after is not None:
            extra["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        body = orjson.dumps(self.body(instance))
        return Response(body, self.status, extra, media_type=MEDIA_TYPE)


def generic(status: int, detail: str) -> Problem:
    """A problem for a status raised by the framework (unknown path, wrong method, 500)."""
    code = _BY_STATUS.get(status, "http_error")
    title = None if code != "http_error" else CATALOG[code].title
    return Problem(status, code, title, detail)


def too_large(detail: str) -> Problem:
    """413: a body, batch or event over its limit."""
    return Problem(413, "too_large", "Request too large", detail)


def malformed(detail: str) -> Problem:
    """400: not JSON, neither an object nor an array, or empty."""
    return Problem(400, "malformed", "Malformed request body", detail)


def decode_errors(index: int, error: DecodeError) -> list[dict[str, Any]]:
    """A `DecodeError` as problem `errors`, each with the event's `index` in its batch."""
    if not error.errors:
        return [{"index": index, "path": "", "rule": str(error.reason), "message": error.detail}]
    return [{"index": index, **field.as_dict()} for field in error.errors]


def invalid_events(errors: list[dict[str, Any]], count: int) -> Problem:
    """422 for a batch of `count` events of which those named in `errors` do not decode."""
    items = len({error["index"] for error in errors})
    detail = (
        f"{items} of {count} events are invalid; nothing was accepted. "
        "Fix them and resend the whole request."
    )
    return Problem(422, "invalid_events", "Invalid events", detail, errors=errors)


def decode_problem(error: DecodeError) -> Problem:
    """The problem answering one event that does not decode (400, 413 or 422)."""
    if error.reason is Reason.INVALID_JSON:
        return malformed(error.detail)
    if error.reason is Reason.TOO_LARGE:
        return too_large(error.detail)
    return invalid_events(decode_errors(0, error), 1)


def validation_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """FastAPI's request validation errors as problem `errors` (no input values quoted)."""
    return [
        {"path": ".".join(map(str, e.get("loc", ()))), "rule": e.get("type", ""),
         "message": e.get("msg", "")}
        for e in errors
    ]  # fmt: skip


def problem_schema() -> tuple[dict[str, Any], dict[str, Any]]:
    """The `Problem` JSON Schema for OpenAPI components, and the definitions it refers to."""
    schema = ProblemDocument.model_json_schema(ref_template="#/components/schemas/{model}")
    definitions = schema.pop("$defs", {})
    return schema, definitions


def declare_problems(
    document: dict[str, Any], *, own_errors: Iterable[str] = ("/health", "/metrics")
) -> dict[str, Any]:
    """Declare `Problem` in an OpenAPI document and use it for every 4xx/5xx response.

    Each operation gets a `default` answer (any other error, as a problem) except the
    paths in `own_errors` (health checks answer 503 with their own document); FastAPI's
    own 422 (`HTTPValidationError`) becomes the problem.
    """
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schema, definitions = problem_schema()
    schemas.update(definitions)
    schemas[SCHEMA_NAME] = schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    content = {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{SCHEMA_NAME}"}}}
    skipped = set(own_errors)
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                if status[:1] in {"4", "5"}:
                    response["content"] = content
            if path not in skipped:
                responses["default"] = {
                    "description": "Any error, as a problem",
                    "content": content,
                }
    return document
