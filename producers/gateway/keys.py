"""Partner keys: generation, parsing, hashing and verification (pure, no I/O).

A key reads `tw_<key_id>_<secret>`: `key_id` (12 hex characters) is public and names the
key in logs and in `tatawwu partners list`; `secret` is `secrets.token_urlsafe(32)`
(256 random bits). Only SHA-256 of the secret is stored: with that much entropy a
slow password hash would add latency and no security.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

PREFIX = "tw_"
KEY_ID_BYTES = 6
SECRET_BYTES = 32
_KEY = re.compile(r"^tw_(?P<key_id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})$")


class MalformedKey(ValueError):
    """The presented string is not shaped like a Tatawwu partner key."""


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly generated key: the full key (show it once) and what is stored."""

    key_id: str
    key: str
    secret_hash: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, its organisation, and whether it is a platform admin."""

    key_id: str
    org_id: str
    is_admin: bool = False


def hash_secret(secret: str) -> str:
    """The stored form of a secret: hex SHA-256."""
    return hashlib.sha256(secret.encode()).hexdigest()


def issue_key() -> IssuedKey:
    """Generate a new random key."""
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return IssuedKey(key_id, f"{PREFIX}{key_id}_{secret}", hash_secret(secret))


def parse_key(key: str) -> tuple[str, str]:
    """Split a presented key into `(key_id, secret)`; raises MalformedKey."""
    match = _KEY.fullmatch(key)
    if match is None:
        msg = "not a Tatawwu partner key (expected tw_<key_id>_<secret>)"
        raise MalformedKey(msg)
    return match["key_id"], match["secret"]


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Constant-time comparison of a presented secret against the stored hash."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
