"""Cold and warm start of the local Kafka and PostgreSQL, measured on this machine.

Cold Kafka: empty jar cache and an empty Maven repository, so Maven Central is
really fetched, then storage format and broker start. Warm: jars cached, storage
formatted, broker stopped and started again. Same for PostgreSQL (initdb + start
versus restart). Runs on side ports so a running development stack is untouched.

    .venv/bin/python -m benchmarks.bench_startup [--keep-maven-cache]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from infra.local.kafka import KafkaCluster
from infra.local.postgres import PostgresCluster


def timed(step) -> float:  # type: ignore[no-untyped-def]
    began = time.monotonic()
    step()
    return time.monotonic() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--keep-maven-cache", action="store_true", help="cold Kafka reuses ~/.m2 (no download)"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tatawwu-bench-", dir="/tmp"))
    root.chmod(0o755)
    rows: list[tuple[str, str, float]] = []
    if not args.keep_maven_cache:
        os.environ["MAVEN_OPTS"] = f"-Dmaven.repo.local={root / 'm2'}"
    kafka = KafkaCluster(root, port=39192, brokers=1)
    pg = PostgresCluster(root, port=55532)
    try:
        rows.append(("Kafka", "cold (fetch jars, format, start)", timed(kafka.start)))
        kafka.stop()
        rows.append(("Kafka", "warm (jars cached, restart)", timed(kafka.start)))
        kafka.stop()
        rows.append(("PostgreSQL", "cold (initdb, start, create db)", timed(pg.start)))
        pg.stop()
        rows.append(("PostgreSQL", "warm (restart)", timed(pg.start)))
        pg.stop()
    finally:
        kafka.destroy()
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)
    table = Table("service", "start", "seconds", title="Local stack start-up on this machine")
    for service, what, seconds in rows:
        table.add_row(service, what, f"{seconds:.1f}")
    Console().print(table)


if __name__ == "__main__":
    main()
