"""The local sinks as a provider that calls back: receipts, bounces, complaints, replies.

A real SMS or email provider tells the platform later what became of a message it took
(delivered, failed, bounced, complained about) and forwards the texts volunteers send to
its number; it signs each call with the shared secret (`infra.webhook_signing`). The
sinks do the same against the gateway's webhooks when given a `WebhookSender`:

- every accepted SMS gets a receipt: `failed` for the numbers told to fail, else
  `delivered`;
- every stored email gets an event per recipient: a permanent `bounce` for the
  addresses told to bounce, a `complaint` for those told to complain, else `delivered`;
- `reply(number, text)` sends a volunteer's SMS reply (the sink's `POST /control/reply`
  and `tatawwu sinks reply`).

Callbacks after a message run in the background, a few tries each; logs carry ids and
statuses, never numbers, addresses or texts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import structlog

from infra.webhook_signing import signed_headers

log = structlog.get_logger("infra.local.sinks")
SMS_INBOUND = "/v1/webhooks/sms/inbound"
SMS_RECEIPTS = "/v1/webhooks/sms/receipts"
EMAIL_EVENTS = "/v1/webhooks/email/events"
TRIES = 5
FAILED_REASON = "30003 unreachable handset (sink told to fail this number)"
BOUNCE_REASON = "550 5.1.1 mailbox unavailable (sink told to bounce this address)"


@dataclass
class Outcomes:
    """Which numbers fail and which addresses bounce or complain (compared normalised)."""

    fail: set[str] = field(default_factory=set)
    bounce: set[str] = field(default_factory=set)
    complain: set[str] = field(default_factory=set)

    def update(self, *, fail: Any = (), bounce: Any = (), complain: Any = ()) -> None:
        """Add numbers and addresses (never removes: `clear` does)."""
        self.fail |= {n.strip() for n in fail}
        self.bounce |= {a.strip().lower() for a in bounce}
        self.complain |= {a.strip().lower() for a in complain}

    def clear(self) -> None:
        """Every message delivered again."""
        self.fail, self.bounce, self.complain = set(), set(), set()

    def counts(self) -> dict[str, int]:
        """How many of each, for `/stats` (never the values)."""
        return {"fail": len(self.fail), "bounce": len(self.bounce), "complain": len(self.complain)}


class WebhookSender:
    """Signed calls to the gateway's webhooks (`base_url`: the gateway's root)."""

    def __init__(
        self, base_url: str, secret: bytes, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.outcomes = Outcomes()
        self.client = httpx.AsyncClient(transport=transport, timeout=10)
        self.sent = self.refused = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def post(self, path: str, document: dict[str, Any]) -> httpx.Response:
        """One signed POST (a fresh nonce and timestamp each time)."""
        body = json.dumps(document, ensure_ascii=False).encode()
        headers = {"content-type": "application/json", **signed_headers(self.secret, body)}
        return await self.client.post(self.base_url + path, content=body, headers=headers)

    async def reply(self, number: str, text: str) -> httpx.Response:
        """A volunteer at `number` texts `text` to the platform."""
        document = {"message_id": f"in-{uuid.uuid4().hex}", "from": number, "body": text}
        return await self.post(SMS_INBOUND, document)

    def sms_accepted(self, sink_id: str, number: str) -> None:
        """Report what became of an accepted SMS, soon."""
        failed = number.strip() in self.outcomes.fail
        document = {"message_id": sink_id, "status": "failed" if failed else "delivered",
                    "reason": FAILED_REASON if failed else None}  # fmt: skip
        self._later(SMS_RECEIPTS, document)

    def email_stored(self, message_id: str | None, recipients: list[str]) -> None:
        """Report what became of a stored email, per recipient, soon."""
        if not message_id:
            return
        for recipient in recipients:
            address = recipient.strip().lower()
            kind = ("bounce" if address in self.outcomes.bounce
                    else "complaint" if address in self.outcomes.complain else "delivered")  # fmt: skip
            self._later(EMAIL_EVENTS, {
                "event_id": f"evt-{uuid.uuid4().hex}", "type": kind, "message_id": message_id,
                "recipient": recipient, "bounce_type": "permanent",
                "reason": BOUNCE_REASON if kind == "bounce" else None,
            })  # fmt: skip

    def _later(self, path: str, document: dict[str, Any]) -> None:
        task = asyncio.get_running_loop().create_task(self._deliver(path, document))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, path: str, document: dict[str, Any]) -> None:
        for attempt in range(1, TRIES + 1):
            try:
                response = await self.post(path, document)
            except httpx.HTTPError as exc:
                status, error = 0, type(exc).__name__
            else:
                status, error = response.status_code, ""
                if status < 500:
                    self.sent += status < 300
                    self.refused += status >= 300
                    log.info("sink_webhook", path=path, status=status)
                    return
            log.warning("sink_webhook_retry", path=path, status=status, error=error,
                        attempt=attempt)  # fmt: skip
            await asyncio.sleep(0.2 * 2**attempt)
        self.refused += 1

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait for the callbacks in flight (at most `timeout_s`)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout_s)

    async def close(self) -> None:
        """Finish what is in flight (briefly), then close the HTTP client."""
        await self.drain(2.0)
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.aclose()
