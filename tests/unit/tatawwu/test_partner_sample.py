"""`tatawwu partners sample`: a world the partner may state whole, in an order that needs no parking."""

from __future__ import annotations

import datetime as dt

import orjson

from infra.settings import Settings
from schemas import ownership
from schemas.decode import decode_event
from schemas.errors import DecodeError
from tatawwu.partner_sample import sample_world


def test_every_sample_event_is_valid_and_accepted_at_entry_for_its_org() -> None:
    now = dt.datetime(2026, 11, 30, 9, 0, tzinfo=dt.UTC)
    documents = sample_world("acme", volunteers=4, now=now, run="r1")
    events = [decode_event(orjson.dumps(d)) for d in documents]
    assert not [e for e in events if isinstance(e, DecodeError)]
    assert {e.source for e in events} == {"partner/acme"}
    settled = ownership.settle(
        events, {}, [now] * len(events), Settings().time_bounds, at_entry=True
    )
    assert settled.refused == []
    assert settled.pending == []
    kinds = [e.type for e in events]
    assert kinds.count("volunteer.registered") == 4
    assert kinds.count("volunteer.signed_up") == 4


def test_sample_ids_are_unique_per_run() -> None:
    first, second = sample_world("acme"), sample_world("acme")
    assert not {d["id"] for d in first} & {d["id"] for d in second}
    assert len({d["id"] for d in first}) == len(first)
