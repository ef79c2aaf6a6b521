"""Where the read API finds each read model: one PostgreSQL schema per projector.

Production reads the projectors' own schemas (`campaigns`, `volunteers`, ...); tests and
benchmarks point the API at isolated copies (`create_app(settings, schemas={...})`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class BadSchemaName(ValueError):
    """A schema name that is not a plain lower-case SQL identifier."""


def quoted(name: str) -> str:
    """The schema name as a quoted SQL identifier, after checking it is a plain one."""
    if not _IDENTIFIER.match(name):
        msg = f"{name!r} is not a plain lower-case schema name"
        raise BadSchemaName(msg)
    return f'"{name}"'


@dataclass(frozen=True)
class Sources:
    """The schema of each read model the API reads, and of the BI views."""

    campaigns: str = "campaigns"
    volunteers: str = "volunteers"
    organizations: str = "organizations"
    participation: str = "participation"
    dashboard: str = "dashboard"

    @classmethod
    def of(cls, schemas: Mapping[str, str] | None = None, dashboard: str | None = None) -> Sources:
        """Defaults (the projector names) overridden by `schemas`; unknown keys are an error."""
        schemas = dict(schemas or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(schemas) - known)
        if unknown:
            msg = f"unknown read model {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            raise KeyError(msg)
        if dashboard:
            schemas["dashboard"] = dashboard
        sources = cls(**schemas)
        for f in fields(sources):
            quoted(getattr(sources, f.name))
        return sources

    @property
    def read_models(self) -> dict[str, str]:
        """Read model name -> schema, without the dashboard schema."""
        return {
            "campaigns": self.campaigns,
            "volunteers": self.volunteers,
            "organizations": self.organizations,
            "participation": self.participation,
        }

    def q(self, read_model: str) -> str:
        """The quoted schema of a read model, for building SQL."""
        return quoted(getattr(self, read_model))
