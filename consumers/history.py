"""Entity rows refolded from their own history, so arrival order never matters.

Partial updates (`campaign.updated`, `volunteer.profile_updated`) applied in arrival
order would let an older update overwrite a newer one. Entity events are few, so each
read model stores them in its `history` table and, for every entity a batch touches,
refolds the row from all its events sorted by (time, id, source).

An event is known by its source and id together (two partners may use one id), so a
history entry carries, where its id would be, the *tie key* `"<id> <source>"`: neither
holds a space, which sorts below every id character, so comparing tie keys as strings
orders by (id, source) in byte order (Python compares str by code point; ids and
sources are ASCII by contract). Folds only use it to order.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import orjson

from infra.migrations import Migrations
from schemas.envelope import Event
from schemas.personal import personal_fields
from schemas.registry import type_of
from schemas.volunteers import VolunteerErased, VolunteerRegistered, VolunteerRegisteredV1

MIGRATIONS = Migrations("history", Path(__file__).with_name("sql_history"))
ERASED = type_of(VolunteerErased)
PERSONAL = frozenset(personal_fields(VolunteerRegistered) + personal_fields(VolunteerRegisteredV1))
"""Every field a volunteer's history may hold that is personal (dropped on erasure)."""
History = list[tuple[dt.datetime, str, str, dict[str, Any]]]  # (time, tie key, type, data)


def tie_key(event_id: str, source: str) -> str:
    """What orders two entries of one instant: (id, source), as one string (see above)."""
    return f"{event_id} {source}"


def ordered(history: History) -> History:
    """History in the order the fold reads it: (time, id, source)."""
    return sorted(history, key=lambda h: (h[0], h[1]))


async def record_and_load(
    conn: asyncpg.Connection,
    events: Sequence[Event[Any]],
    aggregate_of: Callable[[Event[Any]], tuple[str, str]],
) -> dict[tuple[str, str], History]:
    """Store the events; return the whole history of every (aggregate, id) they touch."""
    if not events:
        return {}
    records = []
    for event in events:
        aggregate, aggregate_id = aggregate_of(event)
        data = event.data.model_dump(mode="json", exclude_unset=True)
        records.append(
            (event.id, aggregate, aggregate_id, event.time, event.type, data, event.source)
        )
    # One statement for the batch (one JSON document): one execution per event cost ~30 µs
    # of the database each, and the registrations of a national year are half a million.
    await conn.execute(
        "insert into history (event_id, aggregate, aggregate_id, event_time, event_type, data,"
        " source) select r->>0, r->>1, r->>2, (r->>3)::timestamptz, r->>4, r->5, r->>6"
        " from jsonb_array_elements($1::text::jsonb) as r on conflict do nothing",
        orjson.dumps(records).decode(),
    )
    touched = sorted({(r[1], r[2]) for r in records})
    rows = await conn.fetch(
        "select aggregate, aggregate_id, event_time, event_id, source, event_type, data"
        " from history"
        " where (aggregate, aggregate_id) in (select * from unnest($1::text[], $2::text[]))",
        [a for a, _ in touched],
        [i for _, i in touched],
    )
    histories: dict[tuple[str, str], History] = {key: [] for key in touched}
    for r in rows:
        histories[(r["aggregate"], r["aggregate_id"])].append(
            (r["event_time"], tie_key(r["event_id"], r["source"]), r["event_type"], r["data"])
        )
    return histories


async def refold(
    conn: asyncpg.Connection,
    histories: dict[tuple[str, str], History],
    aggregate: str,
    fold: Callable[[History], dict[str, Any]],
    table: str,
    key: str,
    columns: dict[str, str],
) -> None:
    """Fold every touched `aggregate` from its history and upsert the rows into `table`."""
    rows = [{**fold(h), key: i} for (a, i), h in histories.items() if a == aggregate]
    await upsert_rows(conn, table, key, columns, rows)


async def upsert_rows(
    conn: asyncpg.Connection,
    table: str,
    key: str,
    columns: dict[str, str],
    rows: list[dict[str, Any]],
) -> None:
    """Upsert folded rows in one statement; `columns` maps column -> SQL type."""
    if not rows:
        return
    names = [key, *columns]
    types = ["text", *columns.values()]
    arrays = ", ".join(f"${i + 1}::text[]" for i in range(len(names)))
    selects = ", ".join(f"v.{n}::{t}" for n, t in zip(names, types, strict=True))
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    await conn.execute(
        f"insert into {table} ({', '.join(names)})"
        f" select {selects} from unnest({arrays}) as v({', '.join(names)})"
        f" on conflict ({key}) do update set {updates}",
        *[[_text(row.get(n)) for row in rows] for n in names],
    )


def _text(value: Any) -> str | None:
    """Rows carry JSON values; PostgreSQL casts their text form to the column type."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


async def scrub(
    conn: asyncpg.Connection, aggregate: str, ids: Sequence[str], fields: Iterable[str]
) -> None:
    """Remove `fields` from every stored event of these entities (erasure: nothing personal
    stays in `history`, and refolds find nothing to restore)."""
    await conn.execute(
        "update history set data = data - $3::text[]"
        " where aggregate = $1 and aggregate_id = any($2::text[]) and data ?| $3::text[]",
        aggregate,
        list(ids),
        sorted(fields),
    )
