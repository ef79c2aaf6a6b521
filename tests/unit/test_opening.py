"""Opening encrypted records before decoding (`infra.opening`): the same events as decoding
then opening (`infra.sealing.open_event`), and nothing opens that would not open there."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.runtime.batch import decode, opener_of
from infra.opening import candidate, open_records
from infra.sealing import open_event, seal_events
from schemas.decode import decode_event, encode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.examples import example
from schemas.personal import sealable_fields, sealed_values
from schemas.registry import CURRENT
from schemas.topics import VOLUNTEERS
from tests.unit.test_sealing import FakeKeys, event_of, registration

# Every current event type with a personal field, as the contract's example.
PERSONAL_TYPES = sorted(t for t, spec in CURRENT.items() if sealable_fields(spec.model))


def variants() -> list[Event[Any]]:
    """Each personal type's example, and partial forms: fields left out, a field cleared."""
    events = [event_of(example(t)) for t in PERSONAL_TYPES]
    update = example("volunteer.profile_updated")
    update["data"] = {"volunteer_id": update["data"]["volunteer_id"], "phone": "+97455500009"}
    events.append(event_of(update))
    update = example("volunteer.profile_updated")
    update["data"] = {"volunteer_id": update["data"]["volunteer_id"], "given_name": "Noora",
                      "family_name": None}  # fmt: skip
    events.append(event_of(update))
    bare = example("volunteer.registered")
    bare["data"].pop("family_name", None)
    events.append(event_of(bare))
    return events


async def sealed_wire(keys: FakeKeys, events: list[Event[Any]]) -> list[bytes]:
    return [encode_event(e) for e in await seal_events(keys, events)]


def decoded(raw: bytes) -> Event[Any]:
    event = decode_event(raw)
    assert not isinstance(event, DecodeError), event
    return event


def kafka_record(value: bytes, offset: int) -> ConsumerRecord:
    return ConsumerRecord(VOLUNTEERS.name, 0, offset, 0, 0, b"k", value, None, 1, len(value), ())


async def test_every_personal_event_opens_to_what_decoding_then_opening_gives() -> None:
    """Byte for byte and field for field, for every personal type and partial forms."""
    assert PERSONAL_TYPES  # the contract has personal types: the loop below is not empty
    keys = FakeKeys()
    events = variants()
    wire = await sealed_wire(keys, events)
    opened = await open_records(keys, wire)
    assert sorted(opened) == list(range(len(wire)))  # every one opened before decoding
    by_kid = {k.kid: k for k in keys.keys.values()}
    for n, raw in enumerate(wire):
        early, late = decoded(opened[n]), open_event(decoded(raw), by_kid)
        assert encode_event(early) == encode_event(late) == encode_event(events[n])
        assert early == late
        assert not sealed_values(early.data)


async def test_what_cannot_open_before_decoding_is_left_to_the_usual_path() -> None:
    """A destroyed or another volunteer's key, a ciphertext moved from another event, a
    holder with an extra key, a reference to something else, JSON that is not an event."""
    keys = FakeKeys()
    one, two, three = await sealed_wire(keys, [registration("vol-a", "evt-1"),
                                               registration("vol-b", "evt-2"),
                                               registration("vol-c", "evt-3")])  # fmt: skip
    await keys.destroy("vol-c")
    doc_one, doc_two = orjson.loads(one), orjson.loads(two)
    moved = {**doc_two, "data": {**doc_two["data"], "given_name": doc_one["data"]["given_name"]}}
    extra = orjson.loads(one)
    extra["data"]["given_name"]["note"] = "x"
    elsewhere = orjson.loads(one)
    elsewhere["data"]["phone"] = {"enc": "aes-256-gcm", "in": "email"}
    stolen = orjson.loads(one)  # vol-a's record claimed for vol-b: the associated data differs
    stolen["subject"] = stolen["data"]["volunteer_id"] = "vol-b"
    cases = {
        "destroyed key": three,
        "moved ciphertext": orjson.dumps(moved),
        "extra key": orjson.dumps(extra),
        "reference elsewhere": orjson.dumps(elsewhere),
        "another subject": orjson.dumps(stolen),
        "not JSON": b'{"of":"data"',
        "not an object": b'["of":"data"]',
    }
    opened = await open_records(keys, list(cases.values()))
    assert opened == {}, [list(cases)[n] for n in opened]


async def test_a_batch_erasing_a_volunteer_opens_none_of_their_records() -> None:
    """The erasure in the batch makes the key service forget them first."""
    keys = FakeKeys()
    forgotten: list[str] = []
    keys.forget = forgotten.append  # type: ignore[method-assign]
    [registered] = await sealed_wire(keys, [registration("vol-a", "evt-1")])
    erased = example("volunteer.erased")
    erased["subject"] = erased["data"]["volunteer_id"] = "vol-a"
    assert await open_records(keys, [registered, orjson.dumps(erased)]) == {}
    assert forgotten == ["vol-a"]


@pytest.mark.parametrize("raw", [b"", b"{}", b'{"data": 1}', b'{"data": {"of": "data"}}'])
def test_records_not_in_the_platforms_form_are_no_candidates(raw: bytes) -> None:
    assert candidate(raw) is None


async def test_the_runtime_decodes_opened_records_as_it_did_with_the_usual_path() -> None:
    """`decode` with the opener: the same pairs, in the same order, as decode-then-open."""
    keys = FakeKeys()
    events = variants()
    wire = await sealed_wire(keys, events)
    records = [kafka_record(raw, n) for n, raw in enumerate(wire)]
    batch = await decode({TopicPartition(VOLUNTEERS.name, 0): records}, "", None,
                         opener_of(keys))  # fmt: skip
    assert not batch.dead or {d.reason for d in batch.dead} == {"wrong_topic"}
    by_kid = {k.kid: k for k in keys.keys.values()}
    expected = [
        open_event(decoded(r.value), by_kid) for r in records
        if decoded(r.value).type.startswith("volunteer.")
    ]  # fmt: skip
    assert [encode_event(e) for _, e in batch.good] == [encode_event(e) for e in expected]
