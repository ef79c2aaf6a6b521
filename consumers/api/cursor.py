"""Opaque keyset cursors: the last row's sort key and id, signed, bound to the sort and filters.

A page is "rows after (key, id) in this order", never an offset, so rows inserted
between two fetches cannot shift the pages: no row already there is repeated or
skipped. The cursor is `base64url(body) "." base64url(mac)` where the body is the JSON
`{"v": 2, "s": sort, "f": filters, "k": key, "i": id}` and the mac its HMAC-SHA256
under the server's secret (`TATAWWU_CURSOR_SECRET`). A client can only hand back a
cursor we issued: anything altered, truncated, forged or issued by a server with
another secret is refused (400) before its key reaches SQL. Even a signed cursor is
checked again (defence in depth: a leaked secret must not turn into a 500), and one
replayed with another sort or other filters is refused, since its key would mean
something else there.

Without a configured secret each process draws a random one (and says so once at
start-up): cursors then die with the process and do not cross workers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson
import structlog
from pydantic import SecretStr

log = structlog.get_logger(__name__)

VERSION = 2
MAX_CHARS = 1024  # a genuine cursor is ~200-450 characters (ids are at most 64)
MAX_TEXT = 256
MIN_SECRET_CHARS = 16
# The MAC covers this context too, so a MAC made for something else never fits a cursor.
_CONTEXT = b"tatawwu read-api cursor\x00"
_B64 = re.compile(r"[A-Za-z0-9_-]+")
_NUMERIC = re.compile(r"-?\d{1,15}(\.\d{1,17})?([eE][-+]?\d{1,3})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
KeyKind = Literal["text", "date", "numeric"]
NOT_OURS = "the cursor is not one this API issued; start again without it"


class BadCursor(ValueError):
    """A cursor that is malformed, altered or was issued for another query."""


@dataclass(frozen=True)
class Position:
    """Where the previous page ended."""

    key: Any
    id: str


def fingerprint(sort: str, filters: dict[str, Any]) -> str:
    """A short digest of the query a cursor belongs to."""
    canonical = orjson.dumps({"sort": sort, **filters}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _b64decode(text: str) -> bytes:
    """Strict: only the url-safe alphabet, and only the canonical spelling of the bytes."""
    if not _B64.fullmatch(text):
        raise BadCursor(NOT_OURS)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadCursor(NOT_OURS) from exc
    if _b64encode(raw) != text:  # unused trailing bits set: not what we wrote
        raise BadCursor(NOT_OURS)
    return raw


def _key_fits(key: Any, kind: KeyKind) -> bool:
    """True when `key` is text PostgreSQL can take as the sort column's type."""
    if not isinstance(key, str) or len(key) > MAX_TEXT or "\x00" in key:
        return False
    try:
        if kind == "date":
            return bool(_DATE.fullmatch(key)) and bool(dt.date.fromisoformat(key))
        if kind == "numeric":
            return bool(_NUMERIC.fullmatch(key)) and Decimal(key).is_finite()
    except (ValueError, InvalidOperation):
        return False
    return True


class Cursors:
    """Issues and checks the cursors of one secret."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, body: bytes) -> bytes:
        return hmac.new(self._secret, _CONTEXT + body, hashlib.sha256).digest()

    def encode(self, sort: str, filters: dict[str, Any], key: Any, row_id: str) -> str:
        """The cursor that continues after the row (key, row_id)."""
        body = orjson.dumps(
            {"v": VERSION, "s": sort, "f": fingerprint(sort, filters), "k": key, "i": row_id}
        )
        return f"{_b64encode(body)}.{_b64encode(self._mac(body))}"

    def decode(
        self, cursor: str, sort: str, filters: dict[str, Any], key_kind: KeyKind = "text"
    ) -> Position:
        """The position a cursor names, checked against the query it is used with."""
        if len(cursor) > MAX_CHARS:
            msg = f"the cursor is longer than any this API issues ({MAX_CHARS} characters at most)"
            raise BadCursor(msg)
        body_part, dot, mac_part = cursor.partition(".")
        if not dot:
            raise BadCursor(NOT_OURS)
        body, mac = _b64decode(body_part), _b64decode(mac_part)
        if not hmac.compare_digest(mac, self._mac(body)):
            msg = (
                "the cursor's signature does not match: it was altered, or issued before a "
                "restart or by another server; start again without it"
            )
            raise BadCursor(msg)
        return self._position(body, sort, filters, key_kind)

    @staticmethod
    def _position(body: bytes, sort: str, filters: dict[str, Any], kind: KeyKind) -> Position:
        try:
            fields = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadCursor(NOT_OURS) from exc
        if not isinstance(fields, dict) or fields.get("v") != VERSION:
            raise BadCursor(NOT_OURS)
        if fields.get("s") != sort or fields.get("f") != fingerprint(sort, filters):
            msg = "the cursor belongs to another sort or other filters; start again without it"
            raise BadCursor(msg)
        key, row_id = fields.get("k"), fields.get("i")
        if not _key_fits(row_id, "text") or not _key_fits(key, kind):
            msg = f"the cursor's position is not a valid {kind} key for sort {sort!r}"
            raise BadCursor(msg)
        return Position(key, row_id)


_ephemeral: Cursors | None = None


def signer(secret: SecretStr | None) -> Cursors:
    """The cursors of the configured secret, or of this process's random one (warned once)."""
    global _ephemeral  # one random secret per process, by design
    value = secret.get_secret_value() if secret is not None else ""
    if value:
        if len(value) < MIN_SECRET_CHARS:
            msg = f"TATAWWU_CURSOR_SECRET must have at least {MIN_SECRET_CHARS} characters"
            raise ValueError(msg)
        return Cursors(value.encode())
    if _ephemeral is None:
        _ephemeral = Cursors(secrets.token_bytes(32))
        log.warning(
            "cursor_secret_unset",
            detail="TATAWWU_CURSOR_SECRET is not set: cursors are signed with a random "
            "per-process key, so they will not survive a restart or span workers",
        )
    return _ephemeral
