"""Where the local sinks keep what they received: one JSON line per message.

Shared by the SMTP sink (`smtp_sink.py`), the SMS sink (`sms_sink.py`) and the tests
that read their records back (`read_smtp`, `read_sms`, re-exported by `sinks.py`).
"""

from __future__ import annotations

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
    # One write of one line: a reader never sees half a record from a live sink.
    with path.open("ab") as out:
        out.write(orjson.dumps(record) + b"\n")


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
