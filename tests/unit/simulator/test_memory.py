"""Memory stays flat: four times the days (four times the events) costs next to no memory.

The real command (`tatawwu simulate --via null`) runs in a child process for 60 and then
240 days of the same 2,000 volunteers; its peak RSS, from the kernel's accounting, must
grow by far less than the events would take if held (the in-memory simulator held ~5.6 KB
an event). A memory bound, not a timing: it holds on a loaded machine too.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from tests.support.rss import Measured, run_measured

MAX_GROWTH_MB = 25.0  # for ~35,000 more events: under 0.75 KB an event, a tenth of the old cost


def simulate_null(days: int, truth: Path) -> tuple[Measured, int]:
    command = [sys.executable, "-m", "tatawwu", "simulate", "--via", "null", "--seed", "5",
               "--volunteers", "2000", "--days", str(days), "--until", "2025-12-31",
               "--truth", str(truth)]  # fmt: skip
    measured = run_measured(command)
    assert measured.returncode == 0, measured.stderr
    return measured, orjson.loads(truth.read_bytes())["stream"]["total_records"]


def test_peak_memory_stays_flat_when_the_days_and_events_grow_fourfold(tmp_path: Path) -> None:
    """60 days then 240 days: events grow ~4x, peak RSS by less than MAX_GROWTH_MB."""
    small, small_events = simulate_null(60, tmp_path / "small.json")
    large, large_events = simulate_null(240, tmp_path / "large.json")
    assert large_events - small_events > 30_000
    assert large_events > 3 * (small_events - 2_000)  # registrations do not grow with days
    growth = large.peak_rss_mb - small.peak_rss_mb
    print(f"peak RSS {small.peak_rss_mb:.1f} MB -> {large.peak_rss_mb:.1f} MB")
    assert growth < MAX_GROWTH_MB, (
        small.peak_rss_mb,
        large.peak_rss_mb,
        small_events,
        large_events,
    )
