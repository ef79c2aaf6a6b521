"""The composition root's list of components that own tables, in dependency order."""

from __future__ import annotations

from pathlib import Path

from infra.migrations import INFRA, Migrations


def all_migrations() -> list[Migrations]:
    """Every component's migrations; each new component adds its own here."""
    return [
        INFRA,
        Migrations("gateway", Path(__file__).parent.parent / "producers" / "gateway" / "sql"),
    ]
