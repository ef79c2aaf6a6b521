"""A small pool of open SMTP connections: one handshake for many messages, not one each.

Connecting, EHLO, STARTTLS and AUTH cost more than sending a short message, so a
broadcast over one connection per message spends most of its time shaking hands. The
pool keeps up to `size` connections, each carrying one message at a time (SMTP has one
transaction per connection), made by the provider's `connect` (so STARTTLS, required TLS,
`smtps://` and logging in after encryption hold for every one of them). A connection
that is closed, idle for longer than `max_idle_s` (relays drop idle clients) or has
carried `max_messages` is replaced. A send that fails because a *reused* connection had
gone away (the relay restarted, or timed it out) is tried once more on a fresh one; the
message keeps its Message-ID, so a relay that had in fact taken it drops the repeat.
Any other transport failure discards the connection; an SMTP refusal (4xx/5xx) leaves
it in the pool (aiosmtplib resets the transaction).

`size` 0 is the old way: a fresh connection per message, closed after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import structlog

from consumers.notifications.mime import RawMail

log = structlog.get_logger(__name__)
Ready = Callable[[], Awaitable[None]]
# A reused connection that failed with one of these had been closed under us.
GONE = (aiosmtplib.SMTPServerDisconnected, ConnectionError, aiosmtplib.SMTPConnectError)
UNCONNECTED_CONCURRENCY = 10  # size 0: this many one-message connections at once


@dataclass
class _Connection:
    client: aiosmtplib.SMTP
    last_used: float
    messages: int = 0


class SmtpPool:
    """Up to `size` open connections made by `connect`; `send` one message over one."""

    def __init__(self, connect: Callable[[], Awaitable[aiosmtplib.SMTP]], size: int, *,
                 max_idle_s: float = 30.0, max_messages: int = 1000) -> None:  # fmt: skip
        self._connect = connect
        self.size = size
        self.max_idle_s, self.max_messages = max_idle_s, max_messages
        self._slots = asyncio.Semaphore(size or UNCONNECTED_CONCURRENCY)
        self._idle: list[_Connection] = []
        self.opened = 0  # connections made since start (tests and the benchmark read it)
        self.reconnects = 0  # sends tried again on a fresh connection

    async def send(self, message: EmailMessage | RawMail, ready: Ready | None = None) -> None:
        """Send over a pooled connection; `ready` runs once one is ours, just before the
        request (rate limit, lease check), and may raise to send nothing."""
        async with self._slots:
            connection, reused = await self._take()
            if ready is not None:
                try:
                    await ready()
                except BaseException:
                    self._give_back(connection, sent=0)  # nothing was asked of it
                    raise
            try:
                try:
                    await _transmit(connection.client, message)
                except GONE as exc:
                    if not reused:
                        raise
                    log.info("smtp_reconnect", error=type(exc).__name__)
                    self._close(connection)
                    self.reconnects += 1
                    connection, reused = await self._take(fresh=True)
                    await _transmit(connection.client, message)
            except (aiosmtplib.SMTPResponseException, aiosmtplib.SMTPRecipientsRefused):
                self._give_back(connection)  # refused, but the connection is fine
                raise
            except BaseException:
                self._close(connection)
                raise
            self._give_back(connection)

    async def _take(self, *, fresh: bool = False) -> tuple[_Connection, bool]:
        """An open idle connection (True: reused), or a new one."""
        now = time.monotonic()
        while self._idle and not fresh:
            connection = self._idle.pop()
            if connection.client.is_connected and now - connection.last_used < self.max_idle_s:
                return connection, True
            self._close(connection, polite=connection.client.is_connected)
        client = await self._connect()
        self.opened += 1
        return _Connection(client, now), False

    def _give_back(self, connection: _Connection, sent: int = 1) -> None:
        connection.messages += sent
        connection.last_used = time.monotonic()
        keep = self.size and connection.messages < self.max_messages
        if keep and connection.client.is_connected and len(self._idle) < self.size:
            self._idle.append(connection)
        else:
            self._close(connection, polite=True)

    def _close(self, connection: _Connection, *, polite: bool = False) -> None:
        """Drop a connection; `polite`: say QUIT first (in the background)."""
        if polite and connection.client.is_connected:
            task = asyncio.get_running_loop().create_task(_quit(connection.client))
            _QUITTING.add(task)
            task.add_done_callback(_QUITTING.discard)
        else:
            connection.client.close()

    async def close(self) -> None:
        """QUIT every idle connection (at shutdown)."""
        idle, self._idle = self._idle, []
        await asyncio.gather(*(_quit(c.client) for c in idle))


async def _transmit(client: aiosmtplib.SMTP, message: EmailMessage | RawMail) -> None:
    if isinstance(message, RawMail):
        await client.sendmail(message.sender, message.recipients, message.data)
    else:
        await client.send_message(message)


_QUITTING: set[asyncio.Task[None]] = set()


async def _quit(client: aiosmtplib.SMTP) -> None:
    with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
        await client.quit(timeout=5)
    client.close()
