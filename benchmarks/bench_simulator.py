"""The simulator's generation rate and peak memory, small against national, side by side.

(a) the real command (`tatawwu simulate --via null`, or `--via file`) in a child process
    for a small run and a national year (520,000 registered volunteers, about 260,000 of
    them active at the calibrated share, 365 days: ~20 million records): records, wall
    seconds, events/s by the wall clock and per CPU second (the machine is shared: the CPU
    figure is the one a load does not distort), and peak RSS from the kernel's accounting
    of that one child (`os.wait4`). The last column is national / small.
(b) reproducibility: the small run again, its truth file hashed: same bytes.
(c) with `--kafka`: the command to Kafka on topics of its own (`--topic-prefix
    bench.sim.<id>.`, deleted afterwards), all acknowledged, truth written.

    .venv/bin/python -m benchmarks.bench_simulator [--national 520000] [--days 365]
        [--small 2000] [--small-days 30] [--via null|file] [--kafka]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.support import delete_topics
from infra.settings import child_env, get_settings
from tests.support.rss import run_measured

UNTIL = "2025-12-31"
TARGET_EVENTS_PER_S, TARGET_RSS_MB = 50_000, 1024


@dataclass(frozen=True)
class Run:
    """One measured command."""

    label: str
    records: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    truth_sha: str

    @property
    def per_s(self) -> float:
        return self.records / self.seconds

    @property
    def per_cpu_s(self) -> float:
        return self.records / self.cpu_s


def simulate(
    label: str, volunteers: int, days: int, via: str, tmp: Path, extra: list[str] | None = None
) -> Run:
    """Run the real command in a child process and measure it."""
    truth, out = tmp / f"{label}.json", tmp / f"{label}.jsonl"
    command = [sys.executable, "-m", "tatawwu", "simulate", "--via", via,
               "--volunteers", str(volunteers), "--days", str(days), "--until", UNTIL,
               "--seed", "42", "--truth", str(truth)]  # fmt: skip
    if via == "file":
        command += ["--out", str(out)]
    env = child_env(get_settings())
    measured = run_measured(command + (extra or []), env=env)
    if measured.returncode != 0:
        sys.exit(f"{label} failed:\n{measured.stderr[-2000:]}")
    data = truth.read_bytes()
    out.unlink(missing_ok=True)
    records = orjson.loads(data)["stream"]["total_records"]
    sha = hashlib.sha256(data).hexdigest()
    return Run(label, records, measured.seconds, measured.cpu_s, measured.peak_rss_mb, sha)


def table(small: Run, national: Run, args: argparse.Namespace) -> Table:
    """The two sizes side by side, with national / small."""
    title = f"tatawwu simulate --via {args.via}: generation rate and peak memory"
    result = Table(title=title)
    for column in ("measure", small.label, national.label, "national / small"):
        result.add_column(column, justify="left" if column == "measure" else "right")
    rows = (
        ("records", lambda r: f"{r.records:,}", lambda a, b: f"{b.records / a.records:,.0f}x"),
        ("wall seconds", lambda r: f"{r.seconds:,.1f}", lambda a, b: f"{b.seconds / a.seconds:,.0f}x"),
        ("events/s (wall)", lambda r: f"{r.per_s:,.0f}", lambda a, b: f"{b.per_s / a.per_s:.2f}"),
        ("events per CPU second", lambda r: f"{r.per_cpu_s:,.0f}",
         lambda a, b: f"{b.per_cpu_s / a.per_cpu_s:.2f}"),
        ("peak RSS (MB)", lambda r: f"{r.peak_rss_mb:,.0f}",
         lambda a, b: f"{b.peak_rss_mb / a.peak_rss_mb:.2f}"),
        ("peak RSS per record (bytes)", lambda r: f"{r.peak_rss_mb * 2**20 / r.records:,.0f}",
         lambda a, b: f"{(b.peak_rss_mb / b.records) / (a.peak_rss_mb / a.records):.3f}"),
    )  # fmt: skip
    for name, value, ratio in rows:
        result.add_row(name, value(small), value(national), ratio(small, national))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--national", type=int, default=520_000, help="registered volunteers")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--small-days", type=int, default=30)
    parser.add_argument("--via", choices=("null", "file"), default="null")
    parser.add_argument("--kafka", action="store_true", help="also send the small run to Kafka")
    parser.add_argument("--keep", type=Path, help="keep the truth files in this directory")
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory() as scratch:
        tmp = args.keep or scratch
        Path(tmp).mkdir(parents=True, exist_ok=True)
        small = simulate(f"{args.small:,} x {args.small_days} d", args.small, args.small_days,
                         args.via, Path(tmp))  # fmt: skip
        console.print(f"small run: {small.records:,} records in {small.seconds:.1f} s")
        again = simulate("again", args.small, args.small_days, args.via, Path(tmp))
        national = simulate(f"{args.national:,} x {args.days} d", args.national, args.days,
                            args.via, Path(tmp))  # fmt: skip
        console.print(table(small, national, args))
        same = small.truth_sha == again.truth_sha
        console.print(
            f"(b) truth sha256 of two small runs of one seed: {'same' if same else 'DIFFERENT'}"
        )
        fast = national.per_cpu_s >= TARGET_EVENTS_PER_S
        lean = national.peak_rss_mb <= TARGET_RSS_MB
        console.print(f"national: {national.per_cpu_s:,.0f} events per CPU second "
                      f"(target {TARGET_EVENTS_PER_S:,}: {'yes' if fast else 'NO'}), peak RSS "
                      f"{national.peak_rss_mb:,.0f} MB (target {TARGET_RSS_MB:,}: "
                      f"{'yes' if lean else 'NO'})")  # fmt: skip
        if args.kafka:
            prefix = f"bench.sim.{uuid.uuid4().hex[:8]}."
            try:
                kafka = simulate("kafka", args.small, args.small_days, "kafka", Path(tmp),
                                 ["--topic-prefix", prefix])  # fmt: skip
            finally:
                asyncio.run(delete_topics(get_settings(), prefix))
            console.print(f"(c) to Kafka, all acknowledged: {kafka.records:,} records in "
                          f"{kafka.seconds:.1f} s ({kafka.per_s:,.0f} events/s), peak RSS "
                          f"{kafka.peak_rss_mb:,.0f} MB, truth {'same' if kafka.truth_sha == small.truth_sha else 'DIFFERENT'}")  # fmt: skip
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
