"""A local PostgreSQL cluster from the system's server binaries, data kept in the cache dir.

Installs Debian's `postgresql` package when the binaries are missing and we are root.
PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres`
system user. Loopback only, trust authentication: a development server, never
exposed; production points TATAWWU_DATABASE_URL at a managed server instead.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from infra.local.process import ServiceError, port_open, read_pid, wait_until

DATABASE = "tatawwu"
ROLE = "tatawwu"
SERVER_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "fsync": "on",  # the exactly-once tests kill things: keep durability real
    "synchronous_commit": "on",
    "log_min_duration_statement": "-1",
    "log_line_prefix": "'%m [%p] '",
}
# Passed on the command line at every start, so a cluster made before them gets them too.
# Sized for the national year (issue 13): with 256 MB of buffers and 1 GB of WAL between
# checkpoints, the projectors' writes (their `_events` and read-model indexes, several GB
# at that size, touched at random) forced a checkpoint every 10-26 s, and after each one
# the first change to every page wrote the whole page to the WAL again. Crash recovery
# replays at most a checkpoint's WAL: seconds at test sizes.
SERVER_TUNING = {
    "shared_buffers": "2GB",
    "effective_cache_size": "12GB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "15min",
    "wal_compression": "lz4",
    "wal_buffers": "64MB",
    # What each statement costs, summed (`select * from pg_stat_statements order by
    # total_exec_time desc`): where the database's time goes at 3 a.m. or in a benchmark.
    "shared_preload_libraries": "pg_stat_statements",
}


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL server bin directory, if any."""
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    found = shutil.which("postgres")
    return Path(found).parent if found else None


def install_server() -> Path:
    """Install Debian's postgresql package (root only); return the bin directory."""
    if os.geteuid() != 0:
        msg = (
            "PostgreSQL server binaries not found. Install them (Debian/Ubuntu: "
            "sudo apt-get install postgresql) or set TATAWWU_DATABASE_URL to an existing server."
        )
        raise ServiceError(msg)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "postgresql"]):
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            msg = f"{' '.join(cmd)} failed:\n{result.stderr[-2000:]}"
            raise ServiceError(msg)
    bindir = find_bindir()
    if bindir is None:
        msg = "apt-get installed postgresql but no server binaries were found"
        raise ServiceError(msg)
    return bindir


@dataclass(frozen=True)
class PostgresCluster:
    """The local cluster: data, socket and log live under cache_dir/postgres."""

    cache_dir: Path
    port: int = 55432

    @property
    def home(self) -> Path:
        return self.cache_dir / "postgres"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def log_file(self) -> Path:
        return self.home / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql://{ROLE}@127.0.0.1:{self.port}/{DATABASE}"

    def pid(self) -> int | None:
        return read_pid(self.data_dir / "postmaster.pid")

    def _run_as_owner(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run a server binary as the cluster owner (postgres when we are root)."""
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            msg = f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
            raise ServiceError(msg)
        return result

    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        if os.geteuid() != 0:
            return
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError as exc:
            msg = "running as root needs the 'postgres' system user (apt-get install postgresql)"
            raise ServiceError(msg) from exc
        # The postgres user must be able to reach the cache dir through every parent.
        for parent in [self.home, *self.home.parents]:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o001)
        os.chown(self.home, owner.pw_uid, owner.pw_gid)

    def initdb(self, bindir: Path) -> bool:
        """Create the cluster on first use; True when it was created now."""
        if (self.data_dir / "PG_VERSION").exists():
            return False
        self._prepare_dirs()
        self._run_as_owner([
            str(bindir / "initdb"), "-D", str(self.data_dir), "-A", "trust", "-U", "postgres",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-instructions",
        ])  # fmt: skip
        conf = "".join(f"{k} = {v}\n" for k, v in SERVER_SETTINGS.items())
        with (self.data_dir / "postgresql.conf").open("a") as handle:
            handle.write("\n# tatawwu local stack\n" + conf)
        return True

    def start(self, timeout: float = 60.0) -> None:
        """Install binaries if needed, initdb on first use, start, create the role and database."""
        bindir = find_bindir() or install_server()
        self.initdb(bindir)
        if self.pid() is None:
            if port_open(self.port):
                msg = f"port {self.port} is taken by another process; set TATAWWU_POSTGRES_PORT"
                raise ServiceError(msg)
            tuning = " ".join(f"-c {k}={v}" for k, v in SERVER_TUNING.items())
            self._run_as_owner([
                str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file),
                "-o", f"-p {self.port} -k {self.home} {tuning}", "-w", "-t", str(int(timeout)),
                "start",
            ])  # fmt: skip
        wait_until(
            lambda: self._psql(bindir, "postgres", "select 1", check=False).returncode == 0,
            timeout,
            f"PostgreSQL (port {self.port}, log {self.log_file})",
            lambda: self.pid() is not None,
        )
        self._ensure_database(bindir)

    def _psql(
        self, bindir: Path, db: str, sql: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        psql = (
            bindir / "psql" if (bindir / "psql").exists() else Path(shutil.which("psql") or "psql")
        )
        cmd = [str(psql), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
               "-d", db, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]  # fmt: skip
        result = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if check and result.returncode != 0:
            msg = f"psql failed: {result.stderr.strip()}"
            raise ServiceError(msg)
        return result

    def _ensure_database(self, bindir: Path) -> None:
        exists = self._psql(bindir, "postgres", f"select 1 from pg_roles where rolname='{ROLE}'")
        if not exists.stdout.strip():
            self._psql(bindir, "postgres", f"create role {ROLE} login createrole")
        exists = self._psql(
            bindir, "postgres", f"select 1 from pg_database where datname='{DATABASE}'"
        )
        if not exists.stdout.strip():
            self._psql(bindir, "postgres", f"create database {DATABASE} owner {ROLE}")
        self._psql(bindir, DATABASE, "create extension if not exists pg_stat_statements")

    def stop(self, mode: str = "fast") -> bool:
        """Stop the cluster (fast: roll back open transactions; immediate: like a crash)."""
        bindir = find_bindir()
        if self.pid() is None or bindir is None:
            return False
        self._run_as_owner(
            [str(bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"]
        )
        return True

    def status(self) -> dict[str, object]:
        """The cluster's pid, port and whether it accepts connections."""
        return {"port": self.port, "pid": self.pid(), "listening": port_open(self.port)}
