"""The simulator at national scale: `tatawwu simulate --volunteers 100000 --days 30` to Kafka.

(a) the real command in a child process, straight to Kafka on topics of its own
    (`--topic-prefix bench.<id>.`, deleted afterwards): wall-clock seconds including
    interpreter start, generation, every acknowledgement and the truth file. Target < 60 s.
(b) generation only, in this process: world, events, serialised records.
(c) reproducibility: the truth file of (a) and two in-process generations hash the same.

    .venv/bin/python -m benchmarks.bench_simulator [--volunteers 100000] [--days 30]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from benchmarks.support import delete_topics
from infra.settings import Settings, child_env, get_settings
from producers.simulator import SimConfig, simulate

TARGET_S = 60.0
TRUTH_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def run_command(settings: Settings, args: argparse.Namespace, prefix: str, truth: Path) -> float:
    """Wall-clock seconds of the real CLI sending to Kafka."""
    command = [sys.executable, "-m", "tatawwu", "simulate", "--via", "kafka",
               "--volunteers", str(args.volunteers), "--days", str(args.days),
               "--seed", str(args.seed), "--until", args.until, "--topic-prefix", prefix,
               "--truth", str(truth)]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, env=child_env(settings), stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--until", default=dt.datetime.now(dt.UTC).date().isoformat())
    args = parser.parse_args()
    settings = get_settings()
    prefix = f"bench.sim.{uuid.uuid4().hex[:8]}."
    config = SimConfig(seed=args.seed, volunteers=args.volunteers, days=args.days,
                       until=dt.date.fromisoformat(args.until))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        truth_path = Path(tmp) / "truth.json"
        try:
            wall_s = run_command(settings, args, prefix, truth_path)
        finally:
            asyncio.run(delete_topics(settings, prefix))
        truth_bytes = truth_path.read_bytes()
    records = orjson.loads(truth_bytes)["stream"]["total_records"]

    hashes = [hashlib.sha256(truth_bytes).hexdigest()]
    generate_s: list[float] = []
    for _ in range(2):
        simulation = simulate(config)
        generate_s.append(simulation.generate_s)
        truth = orjson.dumps(simulation.truth(), option=TRUTH_OPTIONS)
        hashes.append(hashlib.sha256(truth).hexdigest())
        del simulation

    best = min(generate_s)
    table = Table(title=f"simulate --volunteers {args.volunteers:,} --days {args.days} --via kafka")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("records sent (= events: no duplicates/invalid)", f"{records:,}")
    table.add_row("(a) CLI wall clock to Kafka, all acked, truth written", f"{wall_s:.1f} s")
    table.add_row("(a) events/s end to end", f"{records / wall_s:,.0f}")
    table.add_row("(b) generation only (best of 2)", f"{best:.1f} s")
    table.add_row("(b) generation-only events/s", f"{records / best:,.0f}")
    table.add_row(
        "(c) truth sha256 (CLI = run 1 = run 2)", "same" if len(set(hashes)) == 1 else "DIFFERENT"
    )
    verdict = "yes" if wall_s < TARGET_S else "NO"
    table.add_row(f"under {TARGET_S:.0f} s on this machine", verdict)
    Console().print(table)
    if len(set(hashes)) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
