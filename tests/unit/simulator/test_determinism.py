"""Same seed, same stream and truth; another seed, another stream."""

from __future__ import annotations

from pathlib import Path

from producers.simulator import SimConfig, Simulation, simulate, write_truth
from tests.unit.simulator.conftest import CONFIG, UNTIL


def test_the_same_seed_gives_identical_records_and_a_byte_identical_truth_file(
    sim: Simulation, tmp_path: Path
) -> None:
    """Two runs of one configuration send the same bytes and write the same truth file,
    whatever topic prefix the second one uses."""
    again = simulate(CONFIG, topic_prefix="elsewhere.")
    assert [r._replace(topic="elsewhere." + r.topic) for r in sim.records] == again.records
    first, second = tmp_path / "first.json", tmp_path / "second.json"
    write_truth(sim.truth(), first)
    write_truth(again.truth(), second)
    assert first.read_bytes() == second.read_bytes()
    assert b'"campaigns"' in first.read_bytes()


def test_a_different_seed_gives_a_different_stream(sim: Simulation) -> None:
    """Changing only the seed changes the events, their ids and the truth."""
    other = simulate(SimConfig(seed=8, volunteers=1_500, days=30, until=UNTIL))
    values = {record.value for record in sim.records}
    assert not values & {record.value for record in other.records}
    assert other.truth()["campaigns"] != sim.truth()["campaigns"]


def test_event_ids_come_from_the_seed_and_are_unique(sim: Simulation) -> None:
    """Ids are `sim-<seed>-<n>`, one per event, numbered in time order."""
    ids = [event["id"] for event in sim.events]
    assert len(set(ids)) == len(ids)
    assert ids[:3] == ["sim-7-1", "sim-7-2", "sim-7-3"]
    times = [event["time"] for event in sim.events]
    assert times == sorted(times)
