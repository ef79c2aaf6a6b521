"""The real PostgreSQL: connections, migrations applied once under a lock, the smoke round trip."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from infra.db import connect, create_pool, rollback_only
from infra.migrations import MigrationError, Migrations, apply
from infra.settings import Settings

pytestmark = [pytest.mark.postgres]


def write_component(tmp_path: Path, unique: str) -> Migrations:
    directory = tmp_path / "sql"
    directory.mkdir()
    (directory / "0001_create.sql").write_text(
        f"create table mig_{unique} (id int primary key, note text);"
    )
    # Not idempotent on purpose: applied twice, it would fail with a duplicate key.
    (directory / "0002_seed.sql").write_text(f"insert into mig_{unique} values (1, 'once');")
    return Migrations(f"test_{unique}", directory)


async def test_migrations_applied_twice_apply_once(
    stack: Settings, tmp_path: Path, unique: str
) -> None:
    """The second run applies nothing and the seed row exists once."""
    component = write_component(tmp_path, unique)
    conn = await connect(stack)
    try:
        assert [m.version for m in await apply(conn, component)] == [1, 2]
        assert await apply(conn, component) == []
        assert await conn.fetchval(f"select count(*) from mig_{unique}") == 1
    finally:
        await conn.close()


async def test_migrations_from_two_processes_at_once_apply_once(
    stack: Settings, tmp_path: Path, unique: str
) -> None:
    """Two processes racing to migrate serialise on the advisory lock: no error, one seed row."""
    component = write_component(tmp_path, unique)
    script = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from infra.db import connect\n"
        "from infra.migrations import Migrations, apply\n"
        "from infra.settings import Settings\n"
        "async def main():\n"
        "    conn = await connect(Settings())\n"
        "    done = await apply(conn, Migrations(sys.argv[1], Path(sys.argv[2])))\n"
        "    print(len(done))\n"
        "asyncio.run(main())\n"
    )
    args = [sys.executable, "-c", script, component.component, str(component.directory)]
    procs = [
        await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    results = [await p.communicate() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err.decode()[-500:] for _, err in results]
    assert sorted(int(out.split()[-1]) for out, _ in results) == [0, 2]
    conn = await connect(stack)
    try:
        assert await conn.fetchval(f"select count(*) from mig_{unique}") == 1
        versions = await conn.fetch(
            "select version from tatawwu_schema_migrations where component=$1 order by 1",
            component.component,
        )
        assert [r["version"] for r in versions] == [1, 2]
    finally:
        await conn.close()


async def test_an_edited_migration_is_refused(stack: Settings, tmp_path: Path, unique: str) -> None:
    """Changing a file after it was applied is an error naming the file."""
    component = write_component(tmp_path, unique)
    conn = await connect(stack)
    try:
        await apply(conn, component)
        (component.directory / "0002_seed.sql").write_text("select 1;")
        with pytest.raises(MigrationError, match="0002_seed was edited"):
            await apply(conn, component)
    finally:
        await conn.close()


def test_badly_named_migration_files_are_refused(tmp_path: Path) -> None:
    """A file that is not NNNN_description.sql stops the load with its path."""
    (tmp_path / "create.sql").write_text("select 1;")
    with pytest.raises(MigrationError, match=r"create\.sql"):
        Migrations("x", tmp_path).load()


def test_psql_connects_to_the_database(stack: Settings) -> None:
    """A non-Python client reaches the same database."""
    out = subprocess.run(
        ["psql", stack.dsn, "-qAtc", "select current_database()"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == "tatawwu"


async def test_smoke_round_trip_goes_through_kafka_into_postgres(stack: Settings) -> None:
    """One event published, consumed from its acknowledged offset and stored with it."""
    from tatawwu.smoke import round_trip

    result = await round_trip(stack)
    conn = await connect(stack)
    try:
        row = await conn.fetchrow("select * from smoke_events where event_id=$1", result.event_id)
    finally:
        await conn.close()
    assert row is not None
    assert row["kafka_offset"] == result.offset
    assert row["topic"] == "tatawwu.smoke"


def test_configured_external_servers_are_used_and_nothing_is_started(stack: Settings) -> None:
    """With TATAWWU_KAFKA_BOOTSTRAP and TATAWWU_DATABASE_URL set, `up` starts nothing."""
    from tatawwu.stack import up

    external = stack.model_copy(
        update={
            "kafka_bootstrap": stack.bootstrap_servers,
            "database_url": stack.dsn,
            # An external cluster's security is the operator's to set: here, the local one's.
            "kafka_security_protocol": stack.kafka_protocol,
            "kafka_sasl_username": stack.kafka_username,
            "kafka_sasl_password": SecretStr(stack.kafka_password()),
        }
    )
    report = up(external)
    assert report.started == []
    assert "kafka" not in report.timings
    assert "postgres" not in report.timings
    assert any("TATAWWU_KAFKA_BOOTSTRAP" in note for note in report.notes)
    assert any("TATAWWU_DATABASE_URL" in note for note in report.notes)


async def test_rollback_only_reset_ends_an_open_transaction_and_nothing_else(
    stack: Settings, unique: str
) -> None:
    """A pool with `reset=rollback_only` (the notifier's sender pool): a connection released
    inside a transaction comes back out of it, its uncommitted row gone, and no reset query
    runs on release (a session `set` survives it, which asyncpg's own `RESET ALL` undoes:
    the reason its users must keep no session state)."""
    pool = await create_pool(stack, min_size=1, max_size=1, reset=rollback_only)
    try:
        async with pool.acquire() as conn:
            await conn.execute(f"create table reset_{unique} (id int)")
        async with pool.acquire() as conn:
            await conn.execute("begin")
            await conn.execute(f"insert into reset_{unique} values (1)")
            assert conn.is_in_transaction()
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetchval(f"select count(*) from reset_{unique}") == 0
            await conn.execute("set statement_timeout = '7s'")
        async with pool.acquire() as conn:
            assert await conn.fetchval("show statement_timeout") == "7s"
            await conn.execute(f"drop table reset_{unique}")
    finally:
        await pool.close()
    default = await create_pool(stack, min_size=1, max_size=1)  # asyncpg's reset, for contrast
    try:
        async with default.acquire() as conn:
            await conn.execute("set statement_timeout = '7s'")
        async with default.acquire() as conn:
            assert await conn.fetchval("show statement_timeout") != "7s"
    finally:
        await default.close()
