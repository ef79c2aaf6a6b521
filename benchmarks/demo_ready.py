"""How long `make demo` takes to be ready, at the demo's scale, and what the nation looks like.

Runs the demo's own steps on the configured stack (the TATAWWU_* ports): `infra up`,
`simulate` at the demo's size to yesterday, then `platform run --trickle` (as `make
demo`), and polls the read API until every projector has caught up (lag 0) and the KPI
answers; then stops the platform with SIGINT, as Ctrl-C does, and times that too.
Prints one table: each step's seconds, the national rate, the machine's load average.
`--fresh` purges the local stack first (what a first `make demo` meets). Not a `bench_*`
module: `make bench` does not run it (it takes minutes).

    .venv/bin/python -m benchmarks.demo_ready --fresh [--volunteers 50000 --days 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time

import httpx

from infra.settings import get_settings

TATAWWU = [sys.executable, "-m", "tatawwu"]


def _timed(argv: list[str]) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def _caught_up(client: httpx.Client, active: int) -> dict | None:
    """The KPI document once every projector is within the trickle's in-flight records
    (lag < 100) and the national count is within 0.1% of the simulator's truth (today's
    KPI counts through yesterday in Qatar, the truth through the end of yesterday in UTC:
    the three hours between differ by a few volunteers)."""
    try:
        doc = client.get("/v1/projections").json()
        lags = [p["lag"] for p in doc["projections"]]
        if len(lags) < 4 or any(lag is None or lag >= 100 for lag in lags):
            return None
        answer = client.get("/v1/kpi/participation")
        kpi = answer.json() if answer.status_code == 200 else None
        near = kpi and abs(kpi["national"]["active"] - active) <= active / 1000
        return kpi if near else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volunteers", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--trickle", type=float, default=4.0)
    parser.add_argument("--fresh", action="store_true", help="purge the local stack first")
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    settings = get_settings()
    load_before = os.getloadavg()[0]
    rows: list[tuple[str, str]] = []
    if args.fresh:
        subprocess.run([*TATAWWU, "infra", "down", "--purge"], check=True)
    rows.append(("infra up (topics, migrations)", f"{_timed([*TATAWWU, 'infra', 'up']):.1f} s"))
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    simulate = [*TATAWWU, "simulate", "--volunteers", str(args.volunteers), "--days",
                str(args.days), "--until", yesterday, "--via", "kafka", "--truth",
                str(settings.cache_dir / "demo-truth.json")]  # fmt: skip
    rows.append(
        (f"simulate {args.volunteers:,} volunteers, {args.days} days", f"{_timed(simulate):.1f} s")
    )
    started = time.monotonic()
    truth = json.loads((settings.cache_dir / "demo-truth.json").read_text())
    active = truth["participation"]["active"]
    platform = subprocess.Popen(
        [*TATAWWU, "platform", "run", "--sinks", "--trickle", f"{args.trickle:g}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    kpi = None
    base = f"http://{settings.api_host}:{settings.api_port}"
    with httpx.Client(base_url=base, timeout=60.0) as client:
        while kpi is None and time.monotonic() - started < args.timeout:
            time.sleep(2.0)
            kpi = _caught_up(client, active)
    ready = time.monotonic() - started
    rows.append(("platform caught up, KPI answering", f"{ready:.1f} s" if kpi else "timed out"))
    stopping = time.monotonic()
    platform.send_signal(signal.SIGINT)
    code = platform.wait(120)
    rows.append((f"stop on SIGINT (exit {code})", f"{time.monotonic() - stopping:.1f} s"))
    if kpi:
        national = kpi["national"]
        rows.append(("national rate", f"{national['rate']:.2%} ({national['active']:,} of "
                     f"{national['population']:,}; truth {active:,})"))  # fmt: skip
    rows.append(
        ("load average (1 min) before / after", f"{load_before:.1f} / {os.getloadavg()[0]:.1f}")
    )
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
