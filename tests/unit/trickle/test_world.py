"""The trickle's world: valid facts its sources own, in an order the gateway accepts."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import orjson

from producers.trickle.run import OPENING_ORDER, batches
from producers.trickle.world import LiveWorld, org_of
from schemas.decode import decode_event
from schemas.errors import DecodeError
from schemas.ownership import settle
from schemas.ownership_terms import TimeBounds

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
STEP = dt.timedelta(seconds=0.25)


def a_morning(
    steps: int = 4000, on_site: int = 200
) -> tuple[LiveWorld, list[dict], list[dt.datetime]]:
    """The opening in posting order, then `steps` facts a quarter second apart."""
    world = LiveWorld(run="t1", seed=3, shift=dt.timedelta(minutes=10))
    order = {kind: n for n, kind in enumerate(OPENING_ORDER)}
    events = sorted(world.opening(NOW, on_site), key=lambda e: (order[e["type"]], e["source"]))
    entered = [NOW] * len(events)
    for n in range(steps):
        moment = NOW + STEP * (n + 1)
        made = world.step(moment)
        events += made
        entered += [moment] * len(made)
    return world, events, entered


def test_every_fact_decodes_and_is_owned_by_its_source_in_posting_order() -> None:
    """Decoded by the shared decoder, judged by the ownership rules as the gateway does:
    nothing refused, nothing waiting for a claim."""
    _, events, entered = a_morning()
    decoded = [decode_event(orjson.dumps(e)) for e in events]
    assert [d for d in decoded if isinstance(d, DecodeError)] == []
    settled = settle(decoded, {}, entered, TimeBounds(), at_entry=True)  # type: ignore[arg-type]
    assert settled.refused == []
    assert settled.pending == []
    assert len(settled.accepted) == len(events)


def test_the_present_has_every_kind_of_fact_and_ids_are_unique() -> None:
    """Registrations, sign-ups, check-ins, check-outs and verified hours all happen."""
    _, events, _ = a_morning()
    steady = Counter(e["type"] for e in events if e["time"] > "2026-03-10T09:00:00")
    for kind in ("volunteer.registered", "volunteer.signed_up", "volunteer.checked_in",
                 "volunteer.checked_out", "volunteer.hours_verified"):  # fmt: skip
        assert steady[kind] > 100, (kind, steady)
    assert len({(e["source"], e["id"]) for e in events}) == len(events)


def test_a_check_out_comes_a_shift_after_its_check_in_and_its_hours_match() -> None:
    """Hours verified are the time between check-in and check-out, in quarter hours."""
    world, events, _ = a_morning()
    checked_in: dict[str, dt.datetime] = {}
    spent: dict[str, float] = {}
    for e in events:
        data, kind = e["data"], e["type"]
        if kind == "volunteer.checked_in":
            checked_in[data["volunteer_id"]] = dt.datetime.fromisoformat(data["at"])
        elif kind == "volunteer.checked_out":
            out = dt.datetime.fromisoformat(data["at"])
            assert out - checked_in[data["volunteer_id"]] >= world.shift
            spent[data["volunteer_id"]] = (out - checked_in[data["volunteer_id"]]).seconds / 3600
        elif kind == "volunteer.hours_verified":
            assert abs(data["hours"] - max(0.25, round(spent[data["volunteer_id"]] * 4) / 4)) < 1e-9


def test_the_opening_is_quiet_about_the_past_and_open_today() -> None:
    """Registrations and sign-ups of the people on site are days old (nobody is messaged
    about them); check-ins are within the last two shifts."""
    world = LiveWorld(run="t2", shift=dt.timedelta(minutes=45))
    events = world.opening(NOW, 50)
    times = {e["type"]: [] for e in events}
    for e in events:
        times[e["type"]].append(dt.datetime.fromisoformat(e["data"].get("at", e["time"])))
    assert max(times["volunteer.registered"]) < NOW - dt.timedelta(days=2)
    assert max(times["volunteer.signed_up"]) < NOW - dt.timedelta(days=1)
    assert min(times["volunteer.checked_in"]) >= NOW - dt.timedelta(minutes=90)
    assert {e["data"]["municipality"] for e in events if e["type"] == "campaign.launched"} == {
        "doha",
        "al_rayyan",
        "al_wakrah",
        "umm_salal",
        "al_khor",
        "al_daayen",
        "al_shamal",
        "al_shahaniya",
    }


def test_batches_keep_order_and_group_consecutive_facts_of_one_organisation() -> None:
    """One request per run of one organisation's facts; the order across them kept."""
    events = [{"source": f"partner/{o}", "id": str(n)} for n, o in enumerate("aabba")]
    grouped = batches(events)
    assert [(org, [e["id"] for e in batch]) for org, batch in grouped] == [
        ("a", ["0", "1"]), ("b", ["2", "3"]), ("a", ["4"]),
    ]  # fmt: skip
    assert org_of(events[0]) == "a"
