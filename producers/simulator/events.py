"""A world model as CloudEvents: plain JSON-ready dicts in time order, with seeded ids.

The simulator's own stream is rendered as it is generated (`stream.py`); `world_events`
renders a world model built by hand (tests/support/hostile.py). Documents are built directly (no pydantic: this is the hot path) and are valid by
construction; tests decode every one with `schemas.decode.decode_event` to prove it.
Ids are `sim-<seed>-<n>`, numbered in send order, so a seed always gives the same ids.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from producers.simulator.model import World, rfc3339
from schemas.registry import CURRENT

DATASCHEMA = {event_type: spec.dataschema for event_type, spec in CURRENT.items()}
TOPIC = {event_type: spec.topic.name for event_type, spec in CURRENT.items()}
REGISTRY_SOURCE = "platform/registrations"
Raw = tuple[int, int, str, str, str, dict[str, Any]]  # (time, seq, type, subject, source, data)


def world_events(world: World) -> list[dict[str, Any]]:
    """Every event of the world as an envelope dict, sorted by (time, generation order)."""
    raw: list[Raw] = []
    seq = itertools.count()

    def add(at: int, event_type: str, subject: str, source: str, data: dict[str, Any]) -> None:
        raw.append((at, next(seq), event_type, subject, source, data))

    _organisation_events(world, add)
    _campaign_events(world, add)
    _volunteer_events(world, add)
    org_of = {c.campaign_id: c.org_id for c in world.campaigns}
    for pair in world.pairs:
        source = f"partner/{org_of[pair.campaign_id]}"
        base = {
            "volunteer_id": pair.volunteer_id,
            "opportunity_id": pair.opportunity_id,
            "campaign_id": pair.campaign_id,
        }
        for at, event_type, extra in pair.events:
            data = {**base, **extra}
            if "at" in data:
                data["at"] = rfc3339(data["at"])
            add(at, event_type, pair.volunteer_id, source, data)
    raw.sort(key=lambda r: (r[0], r[1]))
    prefix = f"sim-{world.config.seed}-"
    return [
        {
            "specversion": "1.0",
            "id": f"{prefix}{n}",
            "source": source,
            "type": event_type,
            "subject": subject,
            "time": rfc3339(at),
            "datacontenttype": "application/json",
            "dataschema": DATASCHEMA[event_type],
            "data": data,
        }
        for n, (at, _seq, event_type, subject, source, data) in enumerate(raw, start=1)
    ]


Add = Callable[[int, str, str, str, dict[str, Any]], None]


def _organisation_events(world: World, add: Add) -> None:
    for org in world.orgs:
        source = f"partner/{org.org_id}"
        data = {"org_id": org.org_id, "name_ar": org.name_ar, "name_en": org.name_en,
                "sector": org.sector}  # fmt: skip
        add(org.registered_at, "organization.registered", org.org_id, source, data)
        if org.suspended:
            at, reason = org.suspended
            data = {"org_id": org.org_id, "reason": reason}
            add(at, "organization.suspended", org.org_id, source, data)


def _campaign_events(world: World, add: Add) -> None:
    org_of = {}
    for c in world.campaigns:
        org_of[c.campaign_id] = source = f"partner/{c.org_id}"
        cid = c.campaign_id
        add(c.launched_at, "campaign.launched", cid, source, {
            "campaign_id": cid, "org_id": c.org_id, "title_ar": c.title_ar,
            "title_en": c.title_en, "kind": c.kind, "municipality": c.municipality,
            "starts_on": c.starts_on.isoformat(), "ends_on": c.ends_on.isoformat(),
            "target_volunteers": c.target_volunteers, "target_hours": c.target_hours,
        })  # fmt: skip
        for at, changes in c.updates:
            add(at, "campaign.updated", cid, source, {"campaign_id": cid, **changes})
        if c.closed:
            at, reason = c.closed
            add(at, "campaign.closed", cid, source, {"campaign_id": cid, "reason": reason})
    for o in world.opportunities:
        source, cid = org_of[o.campaign_id], o.campaign_id
        add(o.published_at, "opportunity.published", cid, source, {
            "opportunity_id": o.opportunity_id, "campaign_id": cid, "title_ar": o.title_ar,
            "title_en": o.title_en, "starts_at": rfc3339(o.starts_at),
            "ends_at": rfc3339(o.ends_at), "capacity": o.capacity,
            "municipality": o.municipality, "min_age": o.min_age,
        })  # fmt: skip
        if o.cancelled:
            at, reason = o.cancelled
            data = {"opportunity_id": o.opportunity_id, "campaign_id": cid, "reason": reason}
            add(at, "opportunity.cancelled", cid, source, data)


def _volunteer_events(world: World, add: Add) -> None:
    for v in world.volunteers:
        vid = v.volunteer_id
        data: dict[str, Any] = {"volunteer_id": vid, "given_name": v.given_name}
        if v.family_name is not None:
            data["family_name"] = v.family_name
        data.update({
            "phone": v.phone, "email": v.email, "language": v.language,
            "birth_year": v.birth_year, "gender": v.gender,
            "nationality_group": v.nationality_group, "municipality": v.municipality,
            "consent": dict(v.consent),
        })  # fmt: skip
        add(v.registered_at, "volunteer.registered", vid, REGISTRY_SOURCE, data)
        for at, changes in v.updates:
            data = {"volunteer_id": vid, **changes}
            add(at, "volunteer.profile_updated", vid, REGISTRY_SOURCE, data)
        for at, consent in v.consent_changes:
            data = {"volunteer_id": vid, "consent": dict(consent)}
            add(at, "volunteer.consent_changed", vid, REGISTRY_SOURCE, data)
