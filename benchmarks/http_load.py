"""A lean HTTP/1.1 load generator: C keep-alive connections looping GETs for D seconds.

httpx spends about a millisecond of CPU per request in the client; with the client and
the server on the same two cores, that was the "client-bound ceiling" of `GET /health`
(bench_api, bench_national): the server waited for requests. Here each client writes the
request line on its own connection and reads the status, headers and `Content-Length`
body with asyncio streams, a few tens of microseconds per request, so the figures are the
server's. It speaks only what the read API answers: `Content-Length` bodies, keep-alive.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class HttpError(RuntimeError):
    """The server answered something this client does not read (chunked, closed...)."""


async def _get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, path: str
) -> int:
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode())
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    if length is None:
        msg = f"{path}: no Content-Length in the answer"
        raise HttpError(msg)
    await reader.readexactly(length)
    return status


async def load(
    host: str, port: int, path: str | Callable[[], str], concurrency: int, seconds: float
) -> tuple[int, int, list[float]]:
    """(2xx/304 answers, other answers, their latencies in ms) of C clients for D seconds."""
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            url = path() if callable(path) else path
            began = time.perf_counter()
            status = await _get(reader, writer, host, url)
            if 200 <= status < 300 or status == 304:
                latencies.append((time.perf_counter() - began) * 1000)
            else:
                errors += 1

    try:
        await asyncio.gather(*(client(r, w) for r, w in connections))
    finally:
        for _, writer in connections:
            writer.close()
    return len(latencies), errors, latencies


async def each(host: str, port: int, paths: list[str], concurrency: int) -> list[float]:
    """Ask every path once over C keep-alive connections; the latencies in ms (a warm-up
    that touches every key of a memo, measured: the cold asks)."""
    connections = [await asyncio.open_connection(host, port) for _ in range(concurrency)]
    todo = iter(paths)
    latencies: list[float] = []

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for path in todo:
            began = time.perf_counter()
            status = await _get(reader, writer, host, path)
            if not (200 <= status < 300 or status == 304):
                msg = f"{path}: HTTP {status}"
                raise HttpError(msg)
            latencies.append((time.perf_counter() - began) * 1000)

    try:
        await asyncio.gather(*(client(r, w) for r, w in connections))
    finally:
        for _, writer in connections:
            writer.close()
    return latencies
