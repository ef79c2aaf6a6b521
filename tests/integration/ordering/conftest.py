"""Two databases for the ordering tests: the project's own, and one whose collation is en-US.

Text comparisons in SQL follow the database's collation, so a tie broken by event id in
SQL can disagree with the same tie broken in Python (code-point order, which is byte
order for our ASCII ids) on a database created with another collation. Every ordering
test runs on both: the stack's database (C.UTF-8 locally) and `<database>_icu_en_us`,
created here once with an ICU en-US collation when missing.
"""

from __future__ import annotations

import asyncpg
import pytest

from infra.db import connect
from infra.settings import Settings
from tests.integration.ordering.replay import Database

ICU_SUFFIX = "_icu_en_us"
ICU_LOCALE = "en-US"
CREATE_ICU = (
    'create database "{name}" owner "{owner}" template template0 encoding \'UTF8\''
    f" locale_provider icu icu_locale '{ICU_LOCALE}' locale 'C.UTF-8'"
)
# The local stack's PostgreSQL (infra/local/postgres.py) trusts its `postgres` superuser
# on loopback; it is how the stack creates its own database, and how this database is
# created when the project's role may not create databases.
LOCAL_ADMIN = "postgres"


async def _database_of(settings: Settings) -> tuple[str, str]:
    conn = await connect(settings)
    try:
        return await conn.fetchval("select current_database()"), await conn.fetchval(
            "select current_user"
        )
    finally:
        await conn.close()


async def _create_icu_database(settings: Settings, name: str, owner: str) -> None:
    """Create the ICU database: as the project's role, else as the local stack's superuser."""
    sql = CREATE_ICU.format(name=name, owner=owner)
    conn = await connect(settings)
    try:
        await conn.execute(sql)
        return
    except asyncpg.DuplicateDatabaseError:
        return
    except asyncpg.InsufficientPrivilegeError as exc:
        if settings.database_is_external:
            msg = (
                f"the ordering tests need a database {name!r} with an ICU {ICU_LOCALE} collation"
                f" and role {owner!r} may not create it ({exc}); create it once with: {sql}"
            )
            raise AssertionError(msg) from exc
    finally:
        await conn.close()
    admin = await asyncpg.connect(
        host="127.0.0.1", port=settings.postgres_port, user=LOCAL_ADMIN, database="postgres"
    )
    try:
        await admin.execute(sql)
    except asyncpg.DuplicateDatabaseError:
        pass
    finally:
        await admin.close()


async def _check_icu(conn: asyncpg.Connection) -> None:
    row = await conn.fetchrow(
        "select datlocprovider, daticulocale from pg_database where datname = current_database()"
    )
    if row["datlocprovider"] != b"i" or row["daticulocale"] != ICU_LOCALE:
        msg = (
            f"database {await conn.fetchval('select current_database()')!r} exists but is not"
            f" ICU {ICU_LOCALE} (provider {row['datlocprovider']!r}, locale"
            f" {row['daticulocale']!r}); drop it so the ordering tests can recreate it"
        )
        raise AssertionError(msg)
    # The point of this database: its default collation must not sort ids by bytes.
    if await conn.fetchval("select 'a-1' < 'A_1'"):
        msg = "the ICU database sorts 'a-1' before 'A_1' (byte order): it is not en-US"
        raise AssertionError(msg)


@pytest.fixture(scope="session", params=["default", "icu_en_us"])
async def db(request: pytest.FixtureRequest, stack: Settings) -> Database:
    """The stack's database, then its ICU en-US twin (created if missing)."""
    if request.param == "default":
        return Database(stack)
    database, owner = await _database_of(stack)
    name = database + ICU_SUFFIX
    try:
        await _create_icu_database(stack, name, owner)
    except asyncpg.PostgresError as exc:
        msg = (
            f"could not create the ICU {ICU_LOCALE} database {name!r}: {exc}"
            " (is this PostgreSQL built with ICU? `select * from pg_collation where"
            " collprovider = 'i'` lists nothing without it)"
        )
        raise AssertionError(msg) from exc
    icu = Database(stack, name)
    async with icu.connection() as conn:
        await _check_icu(conn)
    return icu
