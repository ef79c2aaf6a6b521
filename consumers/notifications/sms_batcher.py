"""SMS in batches: messages handed over one by one go out `size` to a request.

Each caller awaits its own message's result, as with a single request. Messages that
arrive while a request is in flight gather into the next one; a lone message waits at
most `linger_s` for company. At most `concurrency` requests are in flight. Just before a
request, each of its messages' `ready` hook runs (the rate limit, one token per message,
and the lease check): a message whose hook raises is left out and its caller gets that
error. `size` 1 is the provider's single endpoint, one request per message.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from consumers.notifications.providers import DeliveryError, Providers, Sms
from consumers.notifications.smtp_pool import Ready

SINGLE_CONCURRENCY = 10  # size 1: this many single requests at once


@dataclass
class _Waiting:
    sms: Sms
    ready: Ready
    result: asyncio.Future[str]


class SmsBatcher:
    """Send SMS through `providers`, `size` to a request, `concurrency` requests at once."""

    def __init__(self, providers: Providers, size: int, *, concurrency: int = 4,
                 linger_s: float = 0.005) -> None:  # fmt: skip
        self.providers, self.size, self.linger_s = providers, size, linger_s
        self._slots = asyncio.Semaphore(concurrency if size > 1 else SINGLE_CONCURRENCY)
        self._waiting: list[_Waiting] = []
        self._flusher: asyncio.Task[None] | None = None
        self._requests: set[asyncio.Task[None]] = set()
        self.requests = 0  # batch requests made (tests and the benchmark read it)

    async def send(self, sms: Sms, ready: Ready) -> str:
        """The provider's id for this message; raises `DeliveryError` or what `ready` raised."""
        if self.size == 1:
            async with self._slots:
                await ready()
                return await self.providers.sms(sms.notification_id, sms.to, sms.text)
        waiting = _Waiting(sms, ready, asyncio.get_running_loop().create_future())
        self._waiting.append(waiting)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await waiting.result

    async def _flush(self) -> None:
        """Start requests while messages wait, each as soon as a request slot is free."""
        while self._waiting:
            await self._slots.acquire()
            if len(self._waiting) < self.size:
                await asyncio.sleep(self.linger_s)  # let the messages of this moment gather
            batch, self._waiting = self._waiting[: self.size], self._waiting[self.size :]
            request = asyncio.create_task(self._request(batch))
            self._requests.add(request)
            request.add_done_callback(self._requests.discard)

    async def _request(self, batch: list[_Waiting]) -> None:
        """One batch request; every caller's future is resolved, whatever happens."""
        try:
            going: list[_Waiting] = []
            for one in batch:
                if one.result.done():  # its caller gave up (cancelled)
                    continue
                try:
                    await one.ready()
                except Exception as exc:  # fenced, most often: not sent
                    one.result.set_exception(exc)
                    continue
                going.append(one)
            if going:
                self.requests += 1
                results = await self.providers.sms_batch([one.sms for one in going])
                for one, result in zip(going, results, strict=True):
                    if one.result.done():
                        continue
                    if isinstance(result, DeliveryError):
                        one.result.set_exception(result)
                    else:
                        one.result.set_result(result)
        except BaseException as exc:
            for one in batch:
                if one.result.done():
                    continue
                if isinstance(exc, Exception):
                    one.result.set_exception(exc)
                else:
                    one.result.cancel()
            if not isinstance(exc, Exception):
                raise
        finally:
            self._slots.release()
