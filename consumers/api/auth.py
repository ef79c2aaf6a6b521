"""Who may read a volunteer, and how much: bearer tokens, each with a role.

| caller | token | `GET /v1/volunteers/{id}` |
|---|---|---|
| public (dashboards, anyone) | none | 401: no personal data at all (aggregates only, elsewhere) |
| organisation (a partner's coordinators) | one of `TATAWWU_API_ORG_TOKEN_SHA256` (`org_id=digest`) | its own volunteers only (signed up for, or took part in, an opportunity of one of its campaigns): `volunteer_id`, `given_name`, `language`, `status`; no contact details, no demographics, no consent, no activity elsewhere; anyone else is 404, as if unknown |
| admin (the platform's support staff) | one of `TATAWWU_API_VOLUNTEER_TOKEN_SHA256` | the whole profile: contact details, demographics, consent, totals |

Settings hold SHA-256 hex digests of the tokens, never the tokens: a leaked settings file
grants nothing. Tokens are long random strings (`tatawwu api token [--org ORG]` makes
one), so a plain SHA-256 is enough; the digests are compared in constant time, each one.
No token: 401; a token with no role: 403.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from fastapi import Request

from consumers.api.http import Problem

ADMIN: Literal["admin"] = "admin"
ORGANISATION: Literal["organisation"] = "organisation"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who asks: their role and, for an organisation, which."""

    role: Literal["admin", "organisation"]
    org_id: str | None = None


def digest(token: str) -> str:
    """The SHA-256 hex digest settings store for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(org_id: str | None = None) -> tuple[str, str]:
    """A fresh random token and its digest (`torg_` for an organisation, else `tvol_`)."""
    token = ("torg_" if org_id else "tvol_") + secrets.token_urlsafe(32)
    return token, digest(token)


def volunteer_caller(request: Request) -> Caller:
    """The caller's role; 401 without a bearer token, 403 when the token has none."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        msg = "personal data needs a bearer token with the volunteers scope"
        raise Problem(401, "unauthorized", None, msg)
    presented = digest(token.strip())
    settings = request.app.state.settings
    # Compare with every digest (no early exit) so timing tells nothing about the lists.
    admin, org_id = False, None
    for candidate in settings.api_volunteer_token_digests:
        admin |= hmac.compare_digest(presented, candidate)
    for candidate, org in settings.api_org_token_digests.items():
        if hmac.compare_digest(presented, candidate):
            org_id = org
    if admin:
        return Caller(ADMIN)
    if org_id is not None:
        return Caller(ORGANISATION, org_id)
    raise Problem(403, "forbidden", None, "this token does not have the volunteers scope")


def require_volunteers_scope(request: Request) -> None:
    """Raise 401 without a bearer token, 403 when the token has no role."""
    volunteer_caller(request)
