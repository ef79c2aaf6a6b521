"""The router's part of crypto-shredding: forwarded events leave with personal fields encrypted.

Partners write personal fields in clear to their ingress topic (7 days' retention); the
router encrypts them (`infra.sealing`) before they reach a canonical topic, kept forever.
A batch asks the key service once, for every volunteer whose accepted events carry
personal data. A volunteer whose key was destroyed (erased) cannot be stated again: such
an event is refused (rule `volunteer_erased`) like any other refusal, and the rest of the
batch is forwarded.
"""

from __future__ import annotations

from collections.abc import Sequence

from consumers.router.plan import Decoded
from infra.bus import Forwarded, Outgoing
from infra.keys import DataKey, KeyService
from infra.sealing import needs_sealing, seal_event
from schemas.admission import Refusal

ERASED = "volunteer_erased"


async def keys_or_refusals(
    keys: KeyService, decoded: Decoded, refusals: dict[str, list[Refusal]]
) -> dict[str, DataKey]:
    """The data keys the accepted events need; erased volunteers' events join `refusals`."""
    wanted: list[tuple[str, int, str]] = []  # (org, index, volunteer id)
    for org, batch in decoded.by_org.items():
        refused = {r.index for r in refusals.get(org, ())}
        wanted += [
            (org, index, event.subject)
            for index, event in enumerate(batch.events)
            if index not in refused and needs_sealing(event)
        ]
    if not wanted:
        return {}
    found = await keys.keys_for({subject for _, _, subject in wanted})
    for org, index, subject in wanted:
        if subject not in found:
            message = "the volunteer was erased: their personal data is not taken"
            refusals.setdefault(org, []).append(Refusal(index, "subject", ERASED, message, 409))
    return found


def sealed_sends(
    sends: Sequence[Forwarded | Outgoing], found: dict[str, DataKey]
) -> list[Forwarded | Outgoing]:
    """The sends with every forwarded event's personal fields encrypted."""
    return [
        Forwarded(seal_event(s.event, found[s.event.subject]), s.trace, s.topic_prefix)
        if type(s) is Forwarded and needs_sealing(s.event)
        else s
        for s in sends
    ]
