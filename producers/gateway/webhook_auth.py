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

import structlog
from fastapi import Request

from infra.webhook_signing import SignatureError, verify
from producers.gateway.problems import Problem

log = structlog.get_logger("producers.gateway")
DB_TIMEOUT_S = 3.0
MAX_BODY_BYTES = 64 * 1024
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
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise Problem(413, "too_large", "Request too large", f"over {MAX_BODY_BYTES} bytes")
    try:
        nonce, _ = verify(settings.webhook_key(), request.headers, body, time.time(),
                          settings.webhook_tolerance_s)  # fmt: skip
    except SignatureError as exc:
        log.warning("webhook_refused", rule=exc.reason, path=request.url.path)
        raise _refuse(exc.reason, str(exc)) from None
    async with state.pool.acquire() as conn:
        fresh = await asyncio.wait_for(conn.fetchval(RECORD, nonce), DB_TIMEOUT_S)
        if fresh is None:
            log.warning("webhook_refused", rule="replayed", path=request.url.path)
            raise _refuse("replayed", "this webhook-id was already received (a replay)")
        await conn.execute(REMEMBER, 2 * settings.webhook_tolerance_s)
    return body
