"""CPU per record of a projector process, this tree against a baseline checkout, alternating.

Wall-clock throughput on a shared 2-core machine swings by tens of percent between runs;
the CPU a projector process spends after its first batch (start-up excluded) is steadier.
Both trees run `projections run NAME` as their own process over the same published
stream (one topic prefix, a fresh schema and group per run), in alternation, and the
table gives records per CPU-second and the ratio of each pair.

    .venv/bin/python -m benchmarks.bench_projector_cpu --baseline /path/to/old/checkout

The baseline needs its own `.venv` (`make setup` there); a checkout from before the
application package (`tatawwu/`) is started with `python -m infra`. Both use the stack
this tree's settings point at (TATAWWU_KAFKA_BOOTSTRAP and TATAWWU_DATABASE_URL are
passed to both).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import time
import uuid
from pathlib import Path

from rich.console import Console
from rich.table import Table

from infra.db import connect
from infra.settings import Settings
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import create_prefixed_topics, end_offsets, wait_caught_up
from tests.support.streams import build_stream, publish_stream

HERE = Path(__file__).resolve().parent.parent


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def command(tree: Path) -> list[str]:
    module = "tatawwu" if (tree / "tatawwu" / "__main__.py").exists() else "infra"
    return [str(tree / ".venv" / "bin" / "python"), "-m", module, "projections", "run"]


async def one_run(
    settings: Settings, tree: Path, name: str, prefix: str, schema: str, ends: dict
) -> tuple[float, float]:
    """(CPU seconds after the first applied batch, wall seconds) of one projector process."""
    env = {**os.environ, "TATAWWU_LOG_LEVEL": "WARNING",
           "TATAWWU_KAFKA_BOOTSTRAP": settings.bootstrap_servers, "TATAWWU_DATABASE_URL": settings.dsn}  # fmt: skip
    argv = [*command(tree), name, "--topic-prefix", prefix, "--schema", schema,
            "--group-id", f"g-{schema}"]  # fmt: skip
    conn = await connect(settings)
    proc = subprocess.Popen(argv, cwd=tree, env=env, stdout=subprocess.DEVNULL,  # noqa: ASYNC220
                            stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        began, start_cpu = time.monotonic(), None
        while start_cpu is None:  # start-up (imports, migrations, group join) excluded
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited {proc.returncode}")
            if await conn.fetchval("select to_regclass($1)", f'"{schema}"._stats') and (
                await conn.fetchval(f'select events_applied from "{schema}"._stats')
            ):
                start_cpu = cpu_seconds(proc.pid)
            else:
                await asyncio.sleep(0.02)
        await wait_caught_up(conn, schema, ends, wait_s=900)
        return cpu_seconds(proc.pid) - start_cpu, time.monotonic() - began
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    tag = uuid.uuid4().hex[:8]
    prefix = f"cpub.{tag}."
    await create_prefixed_topics(settings, prefix)
    stream = build_stream(args.events, seed=11, volunteers=20_000, opportunities=120)
    await publish_stream(settings, stream, prefix, linger_ms=20)
    ends = await end_offsets(settings, [prefix + t for t in PROJECTORS[args.projector].topics])
    trees = {"baseline": args.baseline.resolve(), "this tree": HERE}
    rows: list[tuple[float, float]] = []
    for n in range(args.pairs):
        pair = []
        for label, tree in trees.items():
            schema = f"cpub_{n}_{label.replace(' ', '_')}_{tag}"
            cpu, _wall = await one_run(settings, tree, args.projector, prefix, schema, ends)
            pair.append(len(stream.records) / cpu)
        rows.append((pair[0], pair[1]))
    table = Table(title=f"{args.projector}: records per CPU-second after the first batch "
                  f"({len(stream.records):,} records)")  # fmt: skip
    for column in ("pair", "baseline", "this tree", "this / baseline"):
        table.add_column(column, justify="right")
    for n, (old, new) in enumerate(rows, 1):
        table.add_row(str(n), f"{old:,.0f}", f"{new:,.0f}", f"{new / old:.2f}")
    ratios = [new / old for old, new in rows]
    table.add_row("median", "", "", f"{statistics.median(ratios):.2f}")
    Console().print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a checkout with a .venv")
    parser.add_argument("--projector", default="campaigns", choices=sorted(PROJECTORS))
    parser.add_argument("--events", type=int, default=150_000)
    parser.add_argument("--pairs", type=int, default=4)
    asyncio.run(main(parser.parse_args()))
