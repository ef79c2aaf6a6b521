"""Opaque keyset cursors: the last row's sort key and id, bound to the sort and filters.

A page is "rows after (key, id) in this order", never an offset, so rows inserted
between two fetches cannot shift the pages: no row already there is repeated or
skipped. The cursor is base64url JSON `{"v": 1, "s": sort, "f": filters, "k": key,
"i": id}`; a cursor replayed with another sort or other filters is refused (400),
since its key would mean something else there.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

VERSION = 1


class BadCursor(ValueError):
    """A cursor that is malformed or was issued for another query."""


@dataclass(frozen=True)
class Position:
    """Where the previous page ended."""

    key: Any
    id: str


def fingerprint(sort: str, filters: dict[str, Any]) -> str:
    """A short digest of the query a cursor belongs to."""
    canonical = orjson.dumps({"sort": sort, **filters}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(canonical).hexdigest()[:16]


def encode(sort: str, filters: dict[str, Any], key: Any, row_id: str) -> str:
    """The cursor that continues after the row (key, row_id)."""
    body = {"v": VERSION, "s": sort, "f": fingerprint(sort, filters), "k": key, "i": row_id}
    return base64.urlsafe_b64encode(orjson.dumps(body)).decode().rstrip("=")


def decode(cursor: str, sort: str, filters: dict[str, Any]) -> Position:
    """The position a cursor names, checked against the query it is used with."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        body = orjson.loads(raw)
        version, row_id = body["v"], body["i"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        msg = "the cursor is not one this API issued"
        raise BadCursor(msg) from exc
    if version != VERSION or not isinstance(row_id, str):
        msg = "the cursor is not one this API issued"
        raise BadCursor(msg)
    if body.get("s") != sort or body.get("f") != fingerprint(sort, filters):
        msg = "the cursor belongs to another sort or other filters; start again without it"
        raise BadCursor(msg)
    return Position(body.get("k"), row_id)
