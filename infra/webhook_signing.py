"""Signed provider webhooks: HMAC-SHA256 over id, timestamp and body (Standard Webhooks).

A provider (or the local sinks standing in for one) signs each request it sends us with
the shared secret (`TATAWWU_WEBHOOK_SECRET`):

    webhook-id:        a nonce, unique per request (the provider's delivery id)
    webhook-timestamp: Unix seconds when it was signed
    webhook-signature: v1,<base64 of HMAC-SHA256(secret, f"{id}.{timestamp}.{body}")>

the scheme of the Standard Webhooks specification (standardwebhooks.com), which several
messaging providers use. Several space-separated signatures are allowed (secret
rotation): one match is enough. `verify` checks the signature and the timestamp's
window; refusing a nonce seen before (a replay) needs a store, the gateway's
(`producers.gateway.webhook_auth`). Pure functions, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
VERSION = "v1"
MAX_ID_CHARS = 128


class SignatureError(Exception):
    """The request is not signed by the holder of the secret, or not now; `reason` is a rule."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def signature(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256>` of `{id}.{timestamp}.{body}`."""
    content = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret, content, hashlib.sha256).digest()
    return f"{VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(
    secret: bytes, body: bytes, *, message_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    """The three headers a provider sends with `body` (a fresh nonce, now, by default)."""
    message_id = message_id or f"msg_{uuid.uuid4().hex}"
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, message_id, timestamp, body),
    }


def verify(
    secret: bytes, headers: Mapping[str, str], body: bytes, now: float, tolerance_s: float
) -> tuple[str, int]:
    """The request's (nonce, timestamp) if signed with `secret` within the window.

    Raises SignatureError naming what is wrong (`missing_header`, `bad_timestamp`,
    `stale_timestamp`, `bad_signature`). The signature is compared in constant time and
    checked before the timestamp's window, so a forger learns nothing about the clock.
    """
    message_id = headers.get(ID_HEADER, "")
    stamp = headers.get(TIMESTAMP_HEADER, "")
    offered = headers.get(SIGNATURE_HEADER, "")
    missing = [
        name
        for name, value in ((ID_HEADER, message_id), (TIMESTAMP_HEADER, stamp),
                            (SIGNATURE_HEADER, offered))
        if not value
    ]  # fmt: skip
    if missing:
        raise SignatureError("missing_header", f"missing header(s): {', '.join(missing)}")
    if len(message_id) > MAX_ID_CHARS or not message_id.isprintable():
        msg = f"{ID_HEADER} must be 1-{MAX_ID_CHARS} printable characters"
        raise SignatureError("bad_header", msg)
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise SignatureError("bad_timestamp", f"{TIMESTAMP_HEADER} must be Unix seconds")
    timestamp = int(stamp)
    expected = signature(secret, message_id, timestamp, body).encode()
    if not any(hmac.compare_digest(expected, part.encode()) for part in offered.split()):
        raise SignatureError("bad_signature", "the signature does not match the body")
    if abs(now - timestamp) > tolerance_s:
        msg = f"{TIMESTAMP_HEADER} is more than {tolerance_s:g}s away from now"
        raise SignatureError("stale_timestamp", msg)
    return message_id, timestamp
