"""What the ownership gate judges, and its cache of committed claims."""

from __future__ import annotations

import orjson
from aiokafka.structs import ConsumerRecord

from consumers.runtime import gate as gate_module
from consumers.runtime.gate import OwnershipGate
from infra.settings import Settings
from schemas.decode import decode_event
from schemas.examples import example


def pair(event_type: str) -> tuple:
    value = orjson.dumps(example(event_type))
    record = ConsumerRecord("t", 0, 0, 0, 0, b"k", value, None, 1, len(value), ())
    return record, decode_event(value)


def gate(types: set[str]) -> OwnershipGate:
    return OwnershipGate(frozenset(types), "claims", Settings().time_bounds)


def test_the_gate_judges_handled_facts_and_every_claim() -> None:
    """Handled types and claim-making facts are judged; others only pass through."""
    g = gate({"volunteer.signed_up"})
    assert g.judged(pair("volunteer.signed_up"))
    assert g.judged(pair("campaign.launched"))  # a claim, though not handled here
    assert not g.judged(pair("volunteer.checked_out"))


def test_committed_claims_are_cached_up_to_a_bound(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Claims are cached once committed; past the bound the cache starts again."""
    monkeypatch.setattr(gate_module, "MAX_CACHED_CLAIMS", 3)
    g = gate(set())
    g.committed({("org", "a"): "a", ("org", "b"): "b"})
    assert len(g.claims) == 2
    g.committed({("org", "c"): "c", ("org", "d"): "d"})
    assert g.claims == {("org", "c"): "c", ("org", "d"): "d"}
