"""Bearer tokens with the `volunteers` scope: the only way to read personal data.

Settings hold SHA-256 hex digests of the tokens (`TATAWWU_API_VOLUNTEER_TOKEN_SHA256`,
comma-separated), never the tokens: a leaked settings file grants nothing. Tokens are
long random strings (`tatawwu api token` makes one), so a plain SHA-256 is enough; the
digests are compared in constant time. No token: 401; a token without the scope: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from fastapi import Request

from consumers.api.http import Problem


def digest(token: str) -> str:
    """The SHA-256 hex digest settings store for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> tuple[str, str]:
    """A fresh random token and its digest."""
    token = "tvol_" + secrets.token_urlsafe(32)
    return token, digest(token)


def require_volunteers_scope(request: Request) -> None:
    """Raise 401 without a bearer token, 403 when the token lacks the volunteers scope."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        msg = "personal data needs a bearer token with the volunteers scope"
        raise Problem(401, "unauthorized", None, msg)
    presented = digest(token.strip())
    allowed = request.app.state.settings.api_volunteer_token_digests
    # Compare with every digest (no early exit) so timing tells nothing about the list.
    granted = False
    for candidate in allowed:
        granted |= hmac.compare_digest(presented, candidate)
    if not granted:
        raise Problem(403, "forbidden", None, "this token does not have the volunteers scope")
