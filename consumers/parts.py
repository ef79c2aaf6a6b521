"""Read models declared from reusable parts: each part brings its types, tables and hooks.

A part declares the event types it handles, the migrations its tables need and an
`apply` hook (with, optionally, pure work the runtime does ahead of the transaction).
A read model is its own part(s) plus shared ones; `read_model` derives from them what
the runtime needs (topics, handled types, migrations in order, one `apply`), so no read
model lists another part's types or tables by hand:

    PROJECTOR = read_model(
        "volunteers",
        refold(Entity("volunteer", PROFILE_TYPES, fold_profile, "volunteers", PROFILE_COLUMNS)),
        participations(),
        sql=Path(__file__).with_name("sql"),
    )

The shared parts: `refold` (entity rows refolded from their history, `consumers.history`)
and `participations` (who took part in what, `consumers.participations`). Parts apply
in the order given, in the batch's transaction; their migrations come first (each
component once), the read model's own `sql/` last, since its views read their tables.
Everything here is computed once, at import: nothing is added per event.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from consumers import history
from consumers import participations as shared_participations
from consumers.history import ERASED, PERSONAL, History
from consumers.runtime import Accumulator, Projector
from infra.migrations import Migrations
from schemas.envelope import Event
from schemas.registry import CURRENT
from schemas.topics import CATALOG

# (conn, the batch's fresh handled events, what `precompute` built or None) -> None
Hook = Callable[[asyncpg.Connection, Sequence[Event[Any]], Any], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Part:
    """One reusable piece of a read model (see the module docstring)."""

    name: str
    event_types: frozenset[str]
    apply: Hook
    migrations: tuple[Migrations, ...] = ()
    # Pure work ahead of the transaction (see `Projector.precompute`); its result is
    # handed to this part's `apply`. At most one part of a read model may have one.
    precompute: Callable[[], Accumulator] | None = None


def rules(name: str, event_types: Iterable[str], apply: Hook) -> Part:
    """A read model's own rules as a part (its tables come from its `sql/`)."""
    return Part(name, frozenset(event_types), apply)


# ---------------------------------------------------------------- participations


async def _upsert_participations(
    conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Any
) -> None:
    await shared_participations.upsert_participations(conn, events, prepared)


def participations(*, precompute: bool = True) -> Part:
    """The shared `participations` table, merged by one set-based upsert per batch.

    `precompute=False` folds inside the transaction instead (the notifier's choice).
    """
    return Part(
        "participations",
        shared_participations.PARTICIPATION_TYPES,
        _upsert_participations,
        (shared_participations.MIGRATIONS,),
        shared_participations.UpsertBuilder if precompute else None,
    )


# ---------------------------------------------------------------------- refold


@dataclass(frozen=True, slots=True)
class Entity:
    """Rows of `table`, one per entity, each refolded from its own history.

    The entity's id is the payload field named like the table's `key` column.
    """

    aggregate: str  # its name in the `history` table
    event_types: frozenset[str]
    fold: Callable[[History], dict[str, Any]]
    table: str
    columns: dict[str, str]  # column -> SQL type, besides the key
    key: str = ""  # default: "<aggregate>_id"

    @property
    def key_column(self) -> str:
        return self.key or f"{self.aggregate}_id"


def refold(*entities: Entity) -> Part:
    """Store the entities' events in `history`; refold every touched entity's row."""
    by_type = {t: e for e in entities for t in e.event_types}
    if len(by_type) != sum(len(e.event_types) for e in entities):
        msg = "two entities of one read model claim the same event type"
        raise ValueError(msg)
    types = frozenset(by_type)

    def aggregate_of(event: Event[Any]) -> tuple[str, str]:
        entity = by_type[event.type]
        return entity.aggregate, getattr(event.data, entity.key_column)

    async def apply(conn: asyncpg.Connection, events: Sequence[Event[Any]], _: Any) -> None:
        mine = [e for e in events if e.type in types]
        histories = await history.record_and_load(conn, mine, aggregate_of)
        for e in entities:
            await history.refold(
                conn, histories, e.aggregate, e.fold, e.table, e.key_column, e.columns
            )
        if erased := [e.subject for e in mine if e.type == ERASED]:  # the folds dropped them
            await history.scrub(conn, "volunteer", erased, PERSONAL)

    return Part("refold", types, apply, (history.MIGRATIONS,))


# ------------------------------------------------------------------ read model


def topics_of(event_types: Iterable[str]) -> tuple[str, ...]:
    """The topics these types are published on, in catalogue order."""
    names = {CURRENT[t].topic.name for t in event_types}
    return tuple(spec.name for spec in CATALOG if spec.name in names)


def migrations_of(parts: Sequence[Part]) -> tuple[Migrations, ...]:
    """The parts' migrations in order, each component once."""
    found: dict[str, Migrations] = {}
    for part in parts:
        for migrations in part.migrations:
            if found.setdefault(migrations.component, migrations) != migrations:
                msg = f"two parts declare migrations {migrations.component!r} differently"
                raise ValueError(msg)
    return tuple(found.values())


def compose(parts: Sequence[Part]) -> Callable[..., Awaitable[None]]:
    """One `apply` running every part's hook in order (the precomputed value to its owner)."""
    hooks = tuple((p.apply, p.precompute is not None) for p in parts)

    async def apply(
        conn: asyncpg.Connection, events: Sequence[Event[Any]], prepared: Any = None
    ) -> None:
        for hook, owns_prepared in hooks:
            await hook(conn, events, prepared if owns_prepared else None)

    return apply


def read_model(
    name: str,
    *parts: Part,
    sql: Path,
    prepare: Callable[[asyncpg.Connection], Awaitable[None]] | None = None,
) -> Projector:
    """The runtime's `Projector` for a read model made of `parts` and its own `sql/`."""
    precomputes = [p.precompute for p in parts if p.precompute is not None]
    if len(precomputes) > 1:
        msg = f"{name}: at most one part may precompute"
        raise ValueError(msg)
    event_types = frozenset().union(*(p.event_types for p in parts))
    return Projector(
        name=name,
        topics=topics_of(event_types),
        migrations=(*migrations_of(parts), Migrations(name, sql)),
        apply=compose(parts),
        event_types=event_types,
        prepare=prepare,
        precompute=precomputes[0] if precomputes else None,
    )
