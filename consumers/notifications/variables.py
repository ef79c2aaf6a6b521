"""Template variables of the new messages: what changed, and how many opportunities (pure).

- `changes` (`opportunity_changed`): the fields an `opportunity.updated` carried, kept in
  the ledger row's context when it was enqueued, told in the volunteer's language: the
  new time (local, the platform's time zone), the new place (municipality) and the new
  capacity. The opportunity's own `starts_at` variable shows the time as it stands when
  the message goes.
- `count` (`opportunity_alert`): how many opportunities the alert or digest lists (the
  first one's title is `opportunity`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

MUNICIPALITIES = {
    "doha": ("Doha", "الدوحة"),
    "al_rayyan": ("Al Rayyan", "الريان"),
    "al_wakrah": ("Al Wakrah", "الوكرة"),
    "umm_salal": ("Umm Salal", "أم صلال"),
    "al_khor": ("Al Khor", "الخور"),
    "al_daayen": ("Al Daayen", "الضعاين"),
    "al_shamal": ("Al Shamal", "الشمال"),
    "al_shahaniya": ("Al Shahaniya", "الشحانية"),
}
_WORDS = {
    "en": {"time": "new time {}", "place": "new place {}", "capacity": "{} places", "sep": "; "},
    "ar": {"time": "الموعد الجديد {}", "place": "المكان الجديد {}", "capacity": "{} مقعداً",
           "sep": "؛ "},
}  # fmt: skip


def _local(value: Any, zone: Any) -> str:
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def describe_changes(changes: dict[str, Any], lang: str, zone: Any) -> str:
    """What changed, in one line of `lang` ("new time 2026-12-01 09:00; new place Doha")."""
    words = _WORDS.get(lang, _WORDS["ar"])
    parts: list[str] = []
    if changes.get("starts_at"):
        parts.append(words["time"].format(_local(changes["starts_at"], zone)))
    elif changes.get("ends_at"):
        parts.append(words["time"].format("– " + _local(changes["ends_at"], zone)))
    if place := changes.get("municipality"):
        names = MUNICIPALITIES.get(place, (place, place))
        parts.append(words["place"].format(names[1] if lang == "ar" else names[0]))
    if changes.get("capacity"):
        parts.append(words["capacity"].format(changes["capacity"]))
    return words["sep"].join(parts)


def message_variables(
    template: str, context: dict[str, Any], lang: str, zone: Any
) -> dict[str, Any]:
    """The variables of the new templates (every template gets them; most ignore them)."""
    return {
        "changes": describe_changes(context.get("changes") or {}, lang, zone),
        "count": str(context.get("count", 1)),
    }
