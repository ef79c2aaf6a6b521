"""Pure helpers over consumed records: when they entered the log, their order, parking JSON."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord

from consumers.runtime.batch import Pair, Record

LOG_APPEND_TIME = 1  # a record's timestamp_type when the broker stamped it


def entered(record: Record) -> dt.datetime:
    """When a record entered the log: the broker's append time, else now."""
    if record.timestamp_type == LOG_APPEND_TIME and record.timestamp > 0:
        return dt.datetime.fromtimestamp(record.timestamp / 1000, dt.UTC)
    return dt.datetime.now(dt.UTC)


def entry_order(pair: Pair) -> tuple[int, str, int, int]:
    """Sort key: the order facts entered the log (append time, then position)."""
    record = pair[0]
    return record.timestamp, record.topic, record.partition, record.offset


def origin(record: Record) -> tuple[str, int, int]:
    """Where a record sits in the log: topic, partition, offset."""
    return record.topic, record.partition, record.offset


def _b64(value: bytes | None) -> str | None:
    return None if value is None else base64.b64encode(value).decode()


def record_json(record: Record) -> dict[str, Any]:
    """A consumed record as JSON, to park it (bytes as base64)."""
    return {
        "t": record.topic, "p": record.partition, "o": record.offset,
        "ts": record.timestamp, "tt": record.timestamp_type,
        "k": _b64(record.key), "v": _b64(record.value),
        "h": [(name, _b64(value)) for name, value in record.headers or ()],
    }  # fmt: skip


def record_from_json(doc: dict[str, Any] | str) -> Record:
    """The record `record_json` stored, back as a ConsumerRecord."""
    if isinstance(doc, str):
        doc = orjson.loads(doc)
    key = base64.b64decode(doc["k"]) if doc["k"] is not None else None
    value = base64.b64decode(doc["v"]) if doc["v"] is not None else None
    headers = tuple((n, base64.b64decode(v) if v is not None else b"") for n, v in doc["h"])
    return ConsumerRecord(
        doc["t"], doc["p"], doc["o"], doc["ts"], doc["tt"], key, value, None,
        len(key or b""), len(value or b""), headers,
    )  # fmt: skip
