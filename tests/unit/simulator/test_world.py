"""The simulated nation is plausible, and every timeline is consistent with the world."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from producers.simulator import Simulation
from producers.simulator.model import epoch, rfc3339
from producers.simulator.vocab import MUNICIPALITIES, SECTORS
from tests.unit.simulator.conftest import UNTIL

PAIR_TYPES = ("volunteer.signed_up", "volunteer.signup_withdrawn", "volunteer.checked_in",
              "volunteer.checked_out", "volunteer.hours_verified", "volunteer.no_show")  # fmt: skip


def test_the_mix_covers_every_municipality_sector_gender_and_nationality(sim: Simulation) -> None:
    """All 8 municipalities (campaigns and volunteers), 5 sectors, both genders and groups."""
    world = sim.world
    volunteers = Counter(v.municipality for v in world.volunteers)
    assert set(volunteers) == set(MUNICIPALITIES)
    assert {c.municipality for c in world.campaigns} == set(MUNICIPALITIES)
    assert volunteers.most_common(2)[0][0] in {"doha", "al_rayyan"}
    assert {o.sector for o in world.orgs} == set(SECTORS)
    assert {v.gender for v in world.volunteers} == {"female", "male"}
    qatari = sum(v.nationality_group == "qatari" for v in world.volunteers) / len(world.volunteers)
    assert 0.10 <= qatari <= 0.16
    assert {v.language for v in world.volunteers} == {"ar", "en"}
    assert all(v.phone.startswith("+974") and len(v.phone) == 12 for v in world.volunteers)
    assert all(v.email.rsplit("@")[1].startswith("example.") for v in world.volunteers)


def test_ages_run_from_14_to_75_skewed_to_young_adults(sim: Simulation) -> None:
    """Ages (as of the until year) stay in 14-75 and 18-34 year-olds are the largest group."""
    ages = [UNTIL.year - v.birth_year for v in sim.world.volunteers]
    assert min(ages) >= 14
    assert max(ages) <= 75
    young_adults = sum(18 <= age <= 34 for age in ages) / len(ages)
    assert 0.45 <= young_adults <= 0.70


def test_participation_proportions_are_plausible(sim: Simulation) -> None:
    """About a third sign up (~2 each); withdrawals, no-shows and walk-ins are minorities."""
    pairs = sim.world.pairs
    signed = [p for p in pairs if p.signup_status is not None]
    signers = {p.volunteer_id for p in signed}
    assert 0.25 <= len(signers) / len(sim.world.volunteers) <= 0.45
    assert 1.5 <= len(signed) / len(signers) <= 2.6
    withdrawn = sum(p.signup_status == "withdrawn" for p in pairs)
    assert 0.03 <= withdrawn / len(signed) <= 0.15
    assert 0.05 <= sum(p.counts_no_show for p in signed) / len(signed) <= 0.25
    checked_in = [p for p in pairs if p.checked_in_at is not None]
    walk_ins = sum(p.signup_status is None for p in checked_in)
    assert 0.02 <= walk_ins / len(checked_in) <= 0.15
    attended = [p for p in pairs if p.attended]
    assert 0.5 <= len(attended) / len(signed) <= 0.9
    assert all(0 < p.hours <= 24 for p in pairs if p.hours is not None)
    assert sim.stats.by_type["volunteer.hours_verified"] > sum(p.hours is not None for p in pairs)


def _pair_timelines(events: list[dict[str, Any]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    timelines: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for event in events:
        if event["type"] in PAIR_TYPES:
            key = (event["data"]["volunteer_id"], event["data"]["opportunity_id"])
            timelines[key].append((event["time"], event["type"]))
    return timelines


def test_pair_timelines_are_distinct_and_in_a_sensible_order(sim: Simulation) -> None:
    """Per pair: distinct times; withdraw after sign-up, check-out after check-in, hours last."""
    for pair, timeline in _pair_timelines(sim.events).items():
        times = [t for t, _ in timeline]
        assert len(set(times)) == len(times), pair
        order = [event_type for _, event_type in sorted(timeline)]
        first = {event_type: order.index(event_type) for event_type in reversed(order)}
        last = {event_type: i for i, event_type in enumerate(order)}
        if "volunteer.signup_withdrawn" in first:
            assert first["volunteer.signed_up"] < first["volunteer.signup_withdrawn"], pair
        if "volunteer.checked_out" in first:
            assert last["volunteer.checked_in"] < first["volunteer.checked_out"], pair
        if "volunteer.hours_verified" in first:
            done = [last[t] for t in ("volunteer.checked_out", "volunteer.checked_in") if t in last]
            assert all(i < first["volunteer.hours_verified"] for i in done), pair
        if "volunteer.checked_in" in first:
            signups = [i for i, t in enumerate(order) if t.startswith("volunteer.sign")]
            assert all(i < first["volunteer.checked_in"] for i in signups), pair
        if "volunteer.no_show" in first:
            assert "volunteer.checked_in" not in first, pair


def test_entities_exist_before_anyone_acts_on_them(sim: Simulation) -> None:
    """Orgs before their campaigns, launches before opportunities, registrations before activity."""
    world = sim.world
    registered = {o.org_id: o.registered_at for o in world.orgs}
    launched = {c.campaign_id: c.launched_at for c in world.campaigns}
    assert all(registered[c.org_id] < c.launched_at for c in world.campaigns)
    assert all(launched[o.campaign_id] < o.published_at < o.starts_at for o in world.opportunities)
    joined = {v.volunteer_id: v.registered_at for v in world.volunteers}
    published = {o.opportunity_id: o.published_at for o in world.opportunities}
    for pair in world.pairs:
        first = min(t for t, _, _ in pair.events)
        assert joined[pair.volunteer_id] < first, pair
        assert published[pair.opportunity_id] < first, pair


def test_activity_falls_in_the_days_ending_at_until(sim: Simulation) -> None:
    """Every check-in and verification lies in the 30 days ending on the until day."""
    start, end = rfc3339(epoch(UNTIL) - 29 * 86_400), rfc3339(sim.config.as_of)
    for event in sim.events:
        if event["type"] in ("volunteer.checked_in", "volunteer.hours_verified"):
            assert start <= event["time"] <= end, event
    assert max(event["time"] for event in sim.events) <= end
