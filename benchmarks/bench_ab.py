"""Projectors of two revisions, side by side in one run, on the same simulated year.

    .venv/bin/python -m benchmarks.bench_ab --baseline REV
        [--volunteers 10000] [--days 365] [--projectors participation,organizations]
        [--rounds 2]

The baseline revision is checked out (detached) as a git worktree under
`.cache/ab/<commit>`; the candidate is this checkout. `tatawwu simulate --via kafka`
writes one calibrated stream to topics of its own. Then, in each round and for each
projector, the baseline and the candidate (which goes first alternates by round) each
project the whole stream from nothing, one at a time, as their own process (`tatawwu
projections run NAME`, as in production), into a schema of their own and with an empty
claims registry (so neither finds the other's claims made). Measured per run: wall
seconds until caught up with the stream, the projector's CPU seconds and PostgreSQL's
(every server process, from /proc: nothing else runs meanwhile). The table gives
records/s, CPU µs per record (projector, database) and the candidate's ratio to the
baseline, best of the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from rich.table import Table

from benchmarks.national_read import console, say
from benchmarks.support import ROOT, delete_topics, drop_schemas
from infra.claims import registry_schema
from infra.db import connect
from infra.settings import Settings, child_env
from tatawwu.manifest import PROJECTORS
from tests.support.projectors import create_prefixed_topics, end_offsets

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Run:
    """One projector of one revision over the whole stream."""

    seconds: float
    cpu_s: float
    db_cpu_s: float


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip


def baseline_tree(settings: Settings, revision: str) -> tuple[Path, str]:
    """The baseline revision as a detached worktree (made once, kept under .cache/ab)."""
    commit = git("rev-parse", "--verify", f"{revision}^{{commit}}")
    tree = settings.cache_dir.resolve() / "ab" / commit[:12]
    if not (tree / "tatawwu").is_dir():
        git("worktree", "prune")
        git("worktree", "add", "--detach", str(tree), commit)
    return tree, commit[:12]


def cpu_of(pid: int) -> float:
    """A process's user + system CPU seconds so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu() -> dict[int, float]:
    """CPU seconds of every PostgreSQL server process, by pid."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    found[int(entry.name)] = cpu_of(int(entry.name))
            except OSError:
                continue
    return found


def database_seconds(before: dict[int, float], after: dict[int, float]) -> float:
    """PostgreSQL's CPU between two samples (the projector's backends live until after the
    second one: it is stopped only then)."""
    return sum(seen - before.get(pid, 0.0) for pid, seen in after.items())


def start(command: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL)


async def applied(conn, schema: str) -> int:  # type: ignore[no-untyped-def]
    if not await conn.fetchval("select to_regclass($1)", f'"{schema}"._offsets'):
        return 0
    return int(
        await conn.fetchval(f'select coalesce(sum(next_offset), 0) from "{schema}"._offsets')
    )


async def project_once(settings: Settings, tree: Path, name: str, prefix: str, total: int) -> Run:
    """One projector of `tree` over the whole stream, from nothing; then its schema and
    the claims registry are dropped."""
    schema = f"bench_ab_{name}_{uuid.uuid4().hex[:8]}"
    env = child_env(settings) | {"TATAWWU_LOG_LEVEL": "ERROR", "PYTHONPATH": str(tree),
                                 "TATAWWU_CACHE_DIR": str(settings.cache_dir.resolve())}  # fmt: skip
    command = [sys.executable, "-m", "tatawwu", "projections", "run", name, "--topic-prefix",
               prefix, "--schema", schema, "--group-id", f"ab-{schema}"]  # fmt: skip
    conn = await connect(settings)
    db_before = postgres_cpu()
    began = time.perf_counter()
    proc = start(command, env, tree)
    try:
        cpu = 0.0
        while await applied(conn, schema) < total:
            if proc.poll() is not None:
                msg = f"{name} of {tree.name} exited with {proc.returncode}"
                raise RuntimeError(msg)
            cpu = cpu_of(proc.pid)
            await asyncio.sleep(0.2)
        seconds = time.perf_counter() - began
        cpu, db_after = cpu_of(proc.pid) or cpu, postgres_cpu()
    finally:
        proc.terminate()
        proc.wait(60)
        await conn.close()
        await drop_schemas(settings, schema, registry_schema(prefix))
    return Run(seconds, cpu, database_seconds(db_before, db_after))


def simulate(settings: Settings, args: argparse.Namespace, prefix: str) -> None:
    """The stream: a calibrated year to yesterday, to the run's own topics."""
    until = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    truth = settings.cache_dir / f"ab-truth-{prefix.strip('.').replace('.', '-')}.json"
    command = [sys.executable, "-m", "tatawwu", "simulate", "--via", "kafka",
               "--volunteers", str(args.volunteers), "--days", str(args.days),
               "--until", until.isoformat(), "--seed", str(args.seed),
               "--topic-prefix", prefix, "--truth", str(truth)]  # fmt: skip
    env = child_env(settings) | {"TATAWWU_LOG_LEVEL": "ERROR"}
    subprocess.run(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    truth.unlink(missing_ok=True)


async def main(args: argparse.Namespace) -> None:
    settings = Settings()
    tree, commit = baseline_tree(settings, args.baseline)
    candidate = git("rev-parse", "--short=12", "HEAD") + ("+" if git("status", "--porcelain",
                                                                      "--untracked-files=no") else "")  # fmt: skip
    names = [n.strip() for n in args.projectors.split(",") if n.strip()]
    unknown = [n for n in names if n not in PROJECTORS]
    if unknown:
        raise SystemExit(
            f"unknown projector(s): {', '.join(unknown)}; known: {', '.join(PROJECTORS)}"
        )
    prefix = f"bench.ab.{uuid.uuid4().hex[:8]}."
    await create_prefixed_topics(settings, prefix)
    try:
        say(f"simulating {args.volunteers:,} volunteers x {args.days} days to {prefix}*")
        simulate(settings, args, prefix)
        runs: dict[tuple[str, str], list[Run]] = {}
        totals = {}
        for name in names:
            topics = [prefix + t for t in PROJECTORS[name].topics]
            totals[name] = sum((await end_offsets(settings, topics)).values())
        trees = {"baseline": tree, "candidate": ROOT}
        for round_ in range(args.rounds):
            order = ["baseline", "candidate"] if round_ % 2 == 0 else ["candidate", "baseline"]
            for name in names:
                for which in order:
                    run = await project_once(settings, trees[which], name, prefix, totals[name])
                    runs.setdefault((name, which), []).append(run)
                    say(f"round {round_ + 1} {name} {which}: {totals[name] / run.seconds:,.0f}"
                        f" records/s, CPU {run.cpu_s:,.1f} s + database {run.db_cpu_s:,.1f} s")  # fmt: skip
    finally:
        await delete_topics(settings, prefix)
    table = Table("projector", "records", f"baseline {commit}: rec/s (CPU µs/rec: projector + db)",
                  f"candidate {candidate}: rec/s (CPU µs/rec)", "candidate / baseline rec/s",
                  title="Projectors of two revisions, best of "
                        f"{args.rounds} round(s), one at a time on the same stream")  # fmt: skip
    for name in names:
        cells = []
        for which in ("baseline", "candidate"):
            best = min(runs[(name, which)], key=lambda r: r.seconds)
            per = 1e6 / totals[name]
            cells.append((totals[name] / best.seconds,
                          f"{totals[name] / best.seconds:,.0f} ({best.cpu_s * per:,.0f} + "
                          f"{best.db_cpu_s * per:,.0f})"))  # fmt: skip
        table.add_row(name, f"{totals[name]:,}", cells[0][1], cells[1][1],
                      f"{cells[1][0] / cells[0][0]:.2f}x")  # fmt: skip
    console.print(table)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the revision to compare against")
    parser.add_argument("--volunteers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--projectors", default=",".join(PROJECTORS),
                        help="comma-separated (default: all four)")  # fmt: skip
    parser.add_argument("--rounds", type=int, default=2)
    asyncio.run(main(parser.parse_args()))
