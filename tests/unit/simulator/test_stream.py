"""The records: valid events keyed by subject on their topic, plus the faults asked for."""

from __future__ import annotations

from collections import Counter
from typing import Any

import orjson

from producers.simulator import SimConfig, Simulation, simulate
from schemas.envelope import Event
from schemas.errors import DecodeError, Reason
from schemas.registry import CURRENT
from tests.unit.simulator.conftest import UNTIL

# The simulator does not yet generate `opportunity.updated` (its truth model would have
# to follow capacity and time changes), nor the platform's erasures: every other
# partner-side type appears.
EMITTED_TYPES = {
    t
    for t in CURRENT
    if not t.startswith("notification.") and t not in {"opportunity.updated", "volunteer.erased"}
}


def test_every_generated_event_decodes_and_every_type_appears(
    sim: Simulation, unique_events: list[Event[Any]]
) -> None:
    """Each unique event passes `decode_event`; all 16 partner-side types occur."""
    assert len(unique_events) == sim.stats.unique_events == len(sim.events)
    assert {event.type for event in unique_events} == EMITTED_TYPES
    assert Counter(event.type for event in unique_events) == sim.stats.by_type


def test_events_carry_the_current_dataschema_and_are_keyed_by_subject(sim: Simulation) -> None:
    """`dataschema` names the current version; key == subject; topic is the registry's."""
    for record in sim.records:
        if record.kind == "invalid":
            continue
        document = orjson.loads(record.value)
        spec = CURRENT[document["type"]]
        assert document["dataschema"] == spec.dataschema
        assert (
            record.key == document["subject"].encode() == document["data"][spec.key_field].encode()
        )
        assert record.topic == spec.topic.name


def test_injected_invalid_records_are_rejected_and_counted(
    sim: Simulation, decoded: list[Event[Any] | DecodeError]
) -> None:
    """Every invalid record fails to decode, for each kind of fault, on every event topic."""
    reasons: Counter[Reason] = Counter()
    by_topic: Counter[str] = Counter()
    for record, result in zip(sim.records, decoded, strict=True):
        if record.kind == "invalid":
            assert isinstance(result, DecodeError), record
            reasons[result.reason] += 1
            by_topic[record.topic] += 1
        else:
            assert not isinstance(result, DecodeError), result
    assert by_topic == sim.stats.invalid_by_topic
    assert sum(by_topic.values()) == round(0.01 * sim.stats.unique_events)
    assert len(by_topic) == 5
    assert {Reason.INVALID_JSON, Reason.NOT_AN_OBJECT, Reason.UNKNOWN_TYPE,
            Reason.INVALID_EVENT, Reason.UNSUPPORTED_VERSION} <= set(reasons)  # fmt: skip


def test_duplicates_resend_an_event_with_the_same_id_and_bytes(sim: Simulation) -> None:
    """A duplicate repeats an event: same id, same value, same topic and key."""
    originals = {(r.topic, r.key, r.value) for r in sim.records if r.kind == "event"}
    duplicates = 0
    for record in sim.records:
        if record.kind == "duplicate":
            duplicates += 1
            assert (record.topic, record.key, record.value) in originals
    assert duplicates == sim.stats.duplicates == round(0.03 * sim.stats.unique_events)
    ids = [orjson.loads(r.value)["id"] for r in sim.records if r.kind != "invalid"]
    assert len(ids) - len(set(ids)) == duplicates


def test_reorder_shuffles_send_order_but_keeps_every_record(sim: Simulation) -> None:
    """With --reorder the records are the same multiset, no longer in time order."""
    plain = simulate(SimConfig(seed=7, volunteers=1_500, days=30, until=UNTIL,
                               duplicates=0.03, invalid=0.01))  # fmt: skip
    assert Counter(plain.records) == Counter(sim.records)
    assert plain.records != sim.records
    plain_times = [orjson.loads(r.value)["time"] for r in plain.records if r.kind == "event"]
    assert plain_times == sorted(plain_times)
    sent: set[bytes] = set()
    for record in plain.records:  # without reordering, a re-send follows its original
        assert record.kind != "duplicate" or record.value in sent
        sent.add(record.value)
    records_by_topic = Counter(r.topic for r in sim.records)
    assert records_by_topic == sim.stats.records_by_topic
    assert sim.stats.total_records == len(sim.records)
