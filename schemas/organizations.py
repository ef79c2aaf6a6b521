"""Events on `tatawwu.organizations`, keyed by `org_id`."""

from __future__ import annotations

from schemas.common import FreeText, Id, Payload, Sector, Title


class OrganizationRegistered(Payload):
    """A partner organisation joined the platform."""

    org_id: Id
    name_ar: Title
    name_en: Title
    sector: Sector


class OrganizationSuspended(Payload):
    """A partner organisation may no longer emit events or run campaigns."""

    org_id: Id
    reason: FreeText
