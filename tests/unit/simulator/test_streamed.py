"""The streamed path: the same records and truth bytes as the in-memory world, deterministic."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import orjson

from producers.simulator import SimConfig, Simulation, Via, simulate, write_truth
from producers.simulator.run import run_streamed, write_tally
from producers.simulator.truth import write_sections


def test_the_tallied_truth_equals_the_world_model_truth_byte_for_byte(
    sim: Simulation, tmp_path: Path
) -> None:
    """The truth accumulated pair by pair writes the same bytes as `ground_truth(world)`."""
    assert sim.tally is not None
    tallied, modelled = tmp_path / "tallied.json", tmp_path / "modelled.json"
    write_tally(sim.tally, sim.stats, tallied)
    write_truth(sim.truth(), modelled)
    assert tallied.read_bytes() == modelled.read_bytes()
    assert orjson.loads(tallied.read_bytes())["participation"]["active"] > 100


def test_the_sectioned_writer_matches_orjson_on_nested_and_empty_maps(tmp_path: Path) -> None:
    """Streamed maps, nested maps, empty maps and lists come out exactly as orjson writes them."""
    doc = {"b": {"y": [], "x": {}}, "a": {"rows": {"k2": {"n": 1.5}, "k1": {}}, "totals": {"n": 0}}}
    path = tmp_path / "doc.json"
    with path.open("wb") as out:
        rows = iter([("k1", {}), ("k2", {"n": 1.5})])
        write_sections(out, {"b": doc["b"], "a.totals": {"n": 0}}, {"a.rows": rows})
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    assert path.read_bytes() == orjson.dumps(doc, option=options)


async def test_without_faults_the_streamed_run_sends_what_the_in_memory_run_holds(
    tmp_path: Path,
) -> None:
    """`run_streamed` to a file writes the in-memory simulation's records and truth bytes."""
    config = SimConfig(seed=4, volunteers=600, days=21, until=dt.date(2026, 3, 10))
    out, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    outcome = await run_streamed(config, via=Via.FILE, out=out, truth_path=truth)
    held = simulate(config)
    assert out.read_bytes().splitlines() == [record.value for record in held.records]
    expected = tmp_path / "expected.json"
    write_truth(held.truth(), expected)
    assert truth.read_bytes() == expected.read_bytes()
    assert outcome.stats.total_records == len(held.records) > 2_000


async def _streamed_digests(config: SimConfig, tmp_path: Path, name: str) -> tuple[str, str]:
    out, truth = tmp_path / f"{name}.jsonl", tmp_path / f"{name}.json"
    await run_streamed(config, via=Via.FILE, out=out, truth_path=truth, topic_prefix=name)
    return (hashlib.sha256(out.read_bytes()).hexdigest(),
            hashlib.sha256(truth.read_bytes()).hexdigest())  # fmt: skip


async def test_the_streamed_path_is_deterministic_at_a_larger_size(tmp_path: Path) -> None:
    """5,000 volunteers over 120 days with every fault: two streamed runs of one seed write
    byte-identical records and truth files (whatever the topic prefix); another seed does not."""
    config = SimConfig(seed=21, volunteers=5_000, days=120, until=dt.date(2026, 4, 30),
                       duplicates=0.02, invalid=0.005, reorder=True)  # fmt: skip
    first = await _streamed_digests(config, tmp_path, "one.")
    assert await _streamed_digests(config, tmp_path, "two.") == first
    other = SimConfig(seed=22, volunteers=5_000, days=120, until=dt.date(2026, 4, 30),
                      duplicates=0.02, invalid=0.005, reorder=True)  # fmt: skip
    different = await _streamed_digests(other, tmp_path, "three.")
    assert different[0] != first[0]
    assert different[1] != first[1]
    truth = orjson.loads((tmp_path / "one..json").read_bytes())
    assert truth["stream"]["unique_events"] > 60_000
    assert truth["stream"]["duplicates"] > 0
    assert sum(truth["stream"]["invalid"].values()) > 0
