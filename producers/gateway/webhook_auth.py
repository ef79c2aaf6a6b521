"""Who may call the provider webhooks: a valid signature, now, with a nonce never seen.

The signature scheme is `infra.webhook_signing` (HMAC-SHA256 over id, timestamp and
body). Here: the raw body is read once, checked, and the nonce recorded in PostgreSQL
(`gateway_webhook_nonces`, migration 0003) in the same statement that tells whether it
was new, so two gateway processes receiving one replayed request cannot both accept it.
Every refusal is a 401 problem naming the rule; nothing about the secret leaks.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import structlog
from fastapi import Request

from infra.webhook_signing import SignatureError, verify
from producers.gateway.ingest import read_body
from producers.gateway.problems import Problem

log = structlog.get_logger("producers.gateway")
DB_TIMEOUT_S = 3.0
MAX_BODY_BYTES = 64 * 1024
DB_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
# A nonce is kept for twice the timestamp window: any request older fails that check.
REMEMBER = "delete from gateway_webhook_nonces where seen_at < now() - make_interval(secs => $1)"
RECORD = "insert into gateway_webhook_nonces (nonce) values ($1) on conflict do nothing returning 1"


def _refuse(reason: str, detail: str) -> Problem:
    return Problem(401, "unauthorized", "Unauthorized", f"webhook signature refused: {detail}",
                   errors=[{"path": "headers", "rule": reason, "message": detail}])  # fmt: skip


async def signed_body(request: Request) -> bytes:
    """The request's body if a provider signed it just now and never sent it before."""
    state = request.app.state
    settings = state.settings
    try:
        async with asyncio.timeout(settings.gateway_request_timeout_s):
            body = await read_body(request, MAX_BODY_BYTES)
    except TimeoutError:
        detail = f"the body did not arrive within {settings.gateway_request_timeout_s:g}s"
        raise Problem(408, "request_timeout", "Request timeout", detail) from None
    try:
        nonce, _ = verify(settings.webhook_key(), request.headers, body, time.time(),
                          settings.webhook_tolerance_s)  # fmt: skip
    except SignatureError as exc:
        log.warning("webhook_refused", rule=exc.reason, path=request.url.path)
        raise _refuse(exc.reason, str(exc)) from None
    try:
        async with state.pool.acquire() as conn:
            fresh = await asyncio.wait_for(conn.fetchval(RECORD, nonce), DB_TIMEOUT_S)
            if fresh is not None:
                await conn.execute(REMEMBER, 2 * settings.webhook_tolerance_s)
    except DB_ERRORS:
        raise Problem(503, "database_unavailable", None, "the webhook cannot be checked "
                      "right now; retry", retry_after=5.0) from None  # fmt: skip
    if fresh is None:
        log.warning("webhook_refused", rule="replayed", path=request.url.path)
        raise _refuse("replayed", "this webhook-id was already received (a replay)")
    return body
