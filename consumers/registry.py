"""Every read model the platform runs, by name."""

from __future__ import annotations

from consumers.campaigns import PROJECTOR as CAMPAIGNS
from consumers.runtime import Projector

PROJECTORS: dict[str, Projector] = {p.name: p for p in (CAMPAIGNS,)}


def projector_named(name: str) -> Projector:
    """The projector called name, or a clear error listing the known ones."""
    try:
        return PROJECTORS[name]
    except KeyError:
        msg = f"no projector named {name!r}; known: {', '.join(sorted(PROJECTORS))}"
        raise KeyError(msg) from None
