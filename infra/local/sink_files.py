"""Where the local sinks keep what they received: one JSON line per message.

Shared by the SMTP sink (`smtp_sink.py`), the SMS sink (`sms_sink.py`) and the tests
that read their records back (`read_smtp`, `read_sms`, re-exported by `sinks.py`).
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

SMTP_FILE = "smtp.jsonl"
SMS_FILE = "sms.jsonl"
# One line per repeat a sink dropped (same idempotency key or Message-ID): with the files
# above they count every request a sink was *asked*, before deduplication.
SMTP_REPEATS_FILE = "smtp-repeats.jsonl"
SMS_REPEATS_FILE = "sms-repeats.jsonl"


def now_iso() -> str:
    """The current UTC time, ISO 8601 (each record's `received_at`)."""
    return datetime.now(UTC).isoformat()


def append_record(path: Path, record: dict[str, Any]) -> None:
    """Append one record as one JSON line."""
    append_records(path, [record])


def append_records(path: Path, records: list[dict[str, Any]]) -> None:
    """Append records, one JSON line each, in one write."""
    # One write: a reader never sees half a record from a live sink. The lock keeps it
    # out of a purge rewriting the file (`purge_before`).
    with path.open("ab") as out:
        fcntl.flock(out, fcntl.LOCK_EX)
        out.write(b"".join(orjson.dumps(r) + b"\n" for r in records))


def purge_before(directory: Path, before: datetime) -> dict[str, int]:
    """Forget every message (and repeat) a sink received before `before`: records removed
    per file. Rewritten in place under the file's lock (`_rewrite`); repeatable."""
    names = (SMTP_FILE, SMS_FILE, SMTP_REPEATS_FILE, SMS_REPEATS_FILE)
    return {
        name: removed for name in names
        if (removed := _rewrite(Path(directory) / name, lambda line: _before(line, before)))
        is not None
    }  # fmt: skip


def forget_matching(path: Path, field: str, value: str) -> int:
    """Remove the records of `path` whose `field` is `value` (a provider deleting a message
    it kept, at the sender's request): how many went. Rewritten in place under the file's
    lock (`_rewrite`); repeatable."""
    return _rewrite(path, lambda line: _matches(line, field, value)) or 0


def _rewrite(path: Path, drop: Callable[[bytes], bool]) -> int | None:
    """Remove the records `drop` says to from `path`: how many went (None: no such file).

    Rewritten in place under the file's lock, so a sink appending meanwhile (in this
    process or another) waits and loses nothing; a line still being written (no newline
    yet) is kept as it is."""
    try:
        handle = path.open("r+b")
    except FileNotFoundError:
        return None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        lines = handle.read().split(b"\n")
        torn = lines.pop()  # b"" after the last newline (or a line still being written)
        kept = [line for line in lines if line.strip() and not drop(line)]
        removed = len([line for line in lines if line.strip()]) - len(kept)
        if removed:
            handle.seek(0)
            handle.write(b"".join(line + b"\n" for line in kept) + torn)
            handle.truncate()
    return removed


def _matches(line: bytes, field: str, value: str) -> bool:
    try:
        return bool(orjson.loads(line).get(field) == value)
    except (orjson.JSONDecodeError, AttributeError):
        return False


def _before(line: bytes, before: datetime) -> bool:
    try:
        received = datetime.fromisoformat(orjson.loads(line)["received_at"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return False  # not ours to judge: kept
    return received < before


def _read(path: Path) -> list[dict[str, Any]]:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    lines = data.split(b"\n")[:-1]  # drops "" after the last newline, or a torn last line
    return [orjson.loads(line) for line in lines if line.strip()]


def read_smtp(directory: Path) -> list[dict[str, Any]]:
    """Every email the SMTP sink stored in directory, oldest first."""
    return _read(Path(directory) / SMTP_FILE)


def read_sms(directory: Path) -> list[dict[str, Any]]:
    """Every SMS the SMS sink accepted in directory, oldest first (duplicates not repeated)."""
    return _read(Path(directory) / SMS_FILE)


def read_repeats(directory: Path, name: str) -> list[dict[str, Any]]:
    """Every repeat a sink dropped (`SMTP_REPEATS_FILE` or `SMS_REPEATS_FILE`), oldest first."""
    return _read(Path(directory) / name)
