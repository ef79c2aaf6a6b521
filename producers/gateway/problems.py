"""RFC 9457 problem details: the one shape every gateway error takes."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from starlette.responses import Response

MEDIA_TYPE = "application/problem+json"
TYPE_BASE = "urn:tatawwu:problem:"


class Problem(Exception):
    """An HTTP error answer: raise it anywhere in a request, the app renders it."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        errors: Sequence[Mapping[str, Any]] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{status} {slug}: {detail}")
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.errors = list(errors)
        self.retry_after = retry_after

    def body(self) -> dict[str, Any]:
        """The JSON document (`errors` only when there are some)."""
        document: dict[str, Any] = {
            "type": TYPE_BASE + self.slug,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            document["errors"] = self.errors
        return document

    def response(self, headers: Mapping[str, str] | None = None) -> Response:
        """The Starlette response, with Retry-After (whole seconds, at least 1) when set."""
        extra = dict(headers or {})
        if self.retry_after is not None:
            extra["Retry-After"] = str(max(1, math.ceil(self.retry_after)))
        return Response(orjson.dumps(self.body()), self.status, extra, media_type=MEDIA_TYPE)


# Generic answers for statuses raised by the framework (routing, method, 500).
_GENERIC = {
    400: ("bad_request", "Bad request"),
    404: ("not_found", "Not found"),
    405: ("method_not_allowed", "Method not allowed"),
    408: ("request_timeout", "Request timeout"),
    413: ("too_large", "Request too large"),
    415: ("unsupported_media_type", "Unsupported media type"),
    422: ("invalid_request", "Invalid request"),
    500: ("internal", "Internal server error"),
}


def generic(status: int, detail: str) -> Problem:
    """A problem for a framework-level status."""
    slug, title = _GENERIC.get(status, ("http_error", "HTTP error"))
    return Problem(status, slug, title, detail)
