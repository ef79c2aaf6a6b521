"""Every read model the platform runs, by name."""

from __future__ import annotations

from consumers.campaigns import PROJECTOR as CAMPAIGNS
from consumers.organizations import PROJECTOR as ORGANIZATIONS
from consumers.participation import PROJECTOR as PARTICIPATION
from consumers.runtime import Projector
from consumers.volunteers import PROJECTOR as VOLUNTEERS

PROJECTORS: dict[str, Projector] = {
    p.name: p for p in (CAMPAIGNS, VOLUNTEERS, ORGANIZATIONS, PARTICIPATION)
}


def projector_named(name: str) -> Projector:
    """The projector called name, or a clear error listing the known ones."""
    try:
        return PROJECTORS[name]
    except KeyError:
        msg = f"no projector named {name!r}; known: {', '.join(sorted(PROJECTORS))}"
        raise KeyError(msg) from None
