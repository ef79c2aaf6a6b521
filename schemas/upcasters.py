"""Upcasters: each lifts one event type's payload from version N to version N+1.

An upcaster is a pure function over the JSON form of an already-validated payload of
version N (a dict) and returns the JSON form of version N+1; the decoder then validates
the result against the version N+1 model, so an upcaster never has to re-check anything.
Chains run one step at a time: v1 -> v2 -> v3.

## volunteer.registered and volunteer.profile_updated, v1 -> v2: splitting `full_name`

Rule: the name is split on its *last* run of whitespace; everything before it becomes
`given_name`, the last word becomes `family_name`. A single word becomes `given_name` with
no `family_name` (mononyms exist and are valid in v2).

Limits, known and accepted: names are not reliably splittable by rule. Multi-word family
names ("Al Thani", "bin Hamad Al Attiyah") keep only their last word as `family_name`
("Mohammed Al Thani" -> given "Mohammed Al", family "Thani"), and name orders that put
the family name first are split the wrong way round. Nothing is lost: joining
`given_name + " " + family_name` gives back the v1 `full_name` (with its whitespace runs
collapsed to one space at the split point), which is what projections display. Partners
who know the real split should publish v2. A split that would leave either part without a
visible character (a zero-width joiner on its own) is not made: the whole name becomes
`given_name`, so that every valid v1 name gives a valid v2 one.

In `volunteer.profile_updated`, a v1 `full_name` replaces the whole name, so a one-word
name is lifted with an explicit `family_name: null` (cleared), and the nulls v1 tolerated
for "unchanged" are dropped: v2 refuses null where a field cannot be cleared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from schemas.common import TEXT_BLANK, TEXT_FORBIDDEN

JsonObject = dict[str, Any]
Upcaster = Callable[[JsonObject], JsonObject]


_VISIBLE = re.compile(f"[^{TEXT_FORBIDDEN}{TEXT_BLANK}]")


def split_full_name(full_name: str) -> tuple[str, str | None]:
    """`(given_name, family_name)` from a v1 `full_name`, splitting on the last whitespace."""
    parts = full_name.strip().rsplit(maxsplit=1)
    if len(parts) == 2 and all(_VISIBLE.search(part) for part in parts):
        return parts[0], parts[1]
    return full_name.strip() or full_name, None


def _lift_names(data: JsonObject, *, clear_missing_family: bool) -> JsonObject:
    lifted = {key: value for key, value in data.items() if key != "full_name"}
    full_name = data.get("full_name")
    if full_name is not None:
        given_name, family_name = split_full_name(full_name)
        lifted["given_name"] = given_name
        if family_name is not None or clear_missing_family:
            lifted["family_name"] = family_name
    return lifted


def _registration_names(data: JsonObject) -> JsonObject:
    """Replace `full_name` by `given_name` and, when there is one, `family_name`."""
    return _lift_names(data, clear_missing_family=False)


def _profile_update_names(data: JsonObject) -> JsonObject:
    """Replace `full_name` (if sent) by the whole v2 name; drop v1's "unchanged" nulls."""
    present = {key: value for key, value in data.items() if value is not None}
    return _lift_names(present, clear_missing_family=True)


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("volunteer.registered", 1): _registration_names,
    ("volunteer.profile_updated", 1): _profile_update_names,
}
"""(event type, from version) -> the function lifting that version's payload by one."""


class MissingUpcaster(LookupError):
    """A version has no upcaster to the next one: a bug in the registry, not in the input."""


def upcast(event_type: str, version: int, target: int, data: JsonObject) -> JsonObject:
    """Lift a payload from `version` to `target` one step at a time."""
    for step in range(version, target):
        upcaster = UPCASTERS.get((event_type, step))
        if upcaster is None:
            msg = f"no upcaster for {event_type} v{step} -> v{step + 1}"
            raise MissingUpcaster(msg)
        data = upcaster(data)
    return data
