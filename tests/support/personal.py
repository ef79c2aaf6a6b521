"""Helpers of the crypto-shredding tests: distinctive personal values, byte searches, opening."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from aiokafka.structs import ConsumerRecord

from consumers.runtime.deadletters import original_of
from consumers.sealed_letters import kids_of, open_value
from infra.db import create_pool
from infra.keys import build_key_service
from infra.sealing import open_events
from infra.settings import Settings
from schemas.decode import decode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from tests.support.router import read_all


def personal_values(unique: str) -> dict[str, Any]:
    """A volunteer's personal fields, distinctive enough to be searched for as bytes."""
    digits = str(int(unique, 16))[-8:].rjust(8, "7")
    return {
        "given_name": f"Mariam{unique}",
        "family_name": f"Alsada{unique}",
        "phone": f"+9745{digits}",
        "email": f"mariam.{unique}@example.qa",
    }


def needles(values: dict[str, Any]) -> list[bytes]:
    """What must not be readable anywhere: the name parts, the phone, the email."""
    return [str(v).encode() for v in values.values()]


def clear_hits(records: Iterable[ConsumerRecord], values: dict[str, Any]) -> list[str]:
    """Where any of the values can be read in the records (key, value or a header)."""
    hits = []
    for record in records:
        parts = [record.key or b"", record.value or b""]
        parts += [bytes(v or b"") for _, v in record.headers or ()]
        for needle in needles(values):
            if any(needle in part for part in parts):
                hits.append(f"{record.topic}/{record.partition}@{record.offset}: {needle!r}")
    return hits


async def opened(settings: Settings, record: ConsumerRecord) -> Event[Any]:
    """The record's event with its encrypted fields opened through the real key service."""
    event = decode_event(record.value)
    assert not isinstance(event, DecodeError), event
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        [event] = await open_events(build_key_service(settings, pool), [event])
    finally:
        await pool.close()
    return event


def table_hits(tables: dict[str, list[Any]], values: dict[str, Any]) -> list[str]:
    """Where any of the values can be read in the rows (each row as its JSON text)."""
    found = []
    for name, rows in tables.items():
        for row in rows:
            text = row if isinstance(row, str) else orjson.dumps(row).decode()
            found += [f"{name}: {n!r}" for n in needles(values) if n.decode() in text]
    return found


def file_hits(directory: Path, values: dict[str, Any]) -> list[str]:
    """Where any of the values can be read in the files under `directory`, as bytes."""
    found = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        data = path.read_bytes()
        found += [f"{path.relative_to(directory)}: {n!r}" for n in needles(values) if n in data]
    return found


async def table_rows(conn: asyncpg.Connection, schemas: list[str]) -> dict[str, list[Any]]:
    """Every table of the schemas, `schema.table` -> its rows as JSON values, sorted."""
    tables = await conn.fetch(
        "select table_schema, table_name from information_schema.tables"
        " where table_schema = any($1) and table_type = 'BASE TABLE'", schemas,
    )  # fmt: skip
    out = {}
    for t in tables:
        rows = await conn.fetch(f'select row_to_json(x)::text as j from "{t[0]}"."{t[1]}" x')
        out[f"{t[0]}.{t[1]}"] = sorted((orjson.loads(r["j"]) for r in rows), key=repr)
    return out


async def opened_letters(settings: Settings, topic: str) -> list[bytes | None]:
    """Each dead letter's payload opened through the key service (None: unreadable), as
    `tatawwu dlq show` would; a fresh key service (no cached key)."""
    letters = [(original_of(r.headers)[0], r.value) for r in await read_all(settings, [topic])]
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        keys = await build_key_service(settings, pool).keys_by_id(kids_of([h for h, _ in letters]))
    finally:
        await pool.close()
    return [open_value(headers, value, keys) for headers, value in letters]
