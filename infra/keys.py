"""Per-volunteer data keys, wrapped by a master key, behind a small interface (`KeyService`).

Crypto-shredding (schemas/personal.py): every personal field on the canonical topics is
encrypted with its volunteer's data key (AES-256-GCM, `cryptography`). The data keys
live in PostgreSQL, each wrapped (AES-256-GCM again, associated data: volunteer id and
key id) by one master key that never touches the database: `TATAWWU_MASTER_KEY`, or the
local key file `tatawwu infra up` makes under `.cache/keys/`. Destroying a volunteer's
row's wrapped key makes every record of theirs unreadable, wherever it was copied.

`KeyService` is the interface the producers (which make keys) and the consumers (which
only read them) use; `PgKeyService` is the PostgreSQL one, and a real KMS can replace it
behind the same three calls. Keys are cached per process (an LRU of `key_cache_size`):
a projector asks PostgreSQL once per batch for the keys it has not met, never per event.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import asyncpg
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from infra.db import execute_locked
from infra.settings import Settings

DEFAULT_SCHEMA = "keys"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
QUERY_TIMEOUT_S = 5.0

_DDL = """
create schema if not exists "{schema}";
create table if not exists "{schema}".volunteer_keys (
    volunteer_id text        primary key,
    kid          text        not null unique,
    wrapped      bytea,                     -- null once destroyed (erasure)
    master_kid   text        not null,
    created_at   timestamptz not null default now(),
    destroyed_at timestamptz
);
-- Erasure requests (infra/erasure.py): each step's time, so a killed erasure resumes.
create table if not exists "{schema}".erasures (
    volunteer_id     text        primary key,
    requested_at     timestamptz not null default now(),
    key_destroyed_at timestamptz,
    published_at     timestamptz
);
"""


class MasterKeyMissing(RuntimeError):
    """No master key is configured (setting or key file), or it is not 32 bytes."""


class MasterKeyMismatch(RuntimeError):
    """A stored data key was wrapped by another master key than the one configured."""


@dataclass(frozen=True, slots=True)
class DataKey:
    """One volunteer's data key, ready to encrypt and decrypt."""

    kid: str
    volunteer_id: str
    cipher: AESGCM


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The key that wraps every data key; `kid` is a fingerprint, stored beside each wrap."""

    kid: str
    cipher: AESGCM

    @classmethod
    def of(cls, raw: bytes) -> MasterKey:
        if len(raw) != KEY_BYTES:
            msg = f"the master key must be {KEY_BYTES} bytes (base64 of 32 random bytes)"
            raise MasterKeyMissing(msg)
        return cls("mk-" + hashlib.sha256(raw).hexdigest()[:16], AESGCM(raw))

    def wrap(self, volunteer_id: str, kid: str, key: bytes, nonce: bytes | None = None) -> bytes:
        nonce = nonce or os.urandom(NONCE_BYTES)
        return nonce + self.cipher.encrypt(nonce, key, _wrap_aad(volunteer_id, kid))

    def unwrap(self, volunteer_id: str, kid: str, wrapped: bytes, master_kid: str) -> bytes:
        if master_kid != self.kid:
            msg = f"data key {kid} was wrapped by master key {master_kid}, not {self.kid}"
            raise MasterKeyMismatch(msg)
        nonce, sealed = wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:]
        try:
            return self.cipher.decrypt(nonce, sealed, _wrap_aad(volunteer_id, kid))
        except InvalidTag:
            msg = f"data key {kid} does not unwrap under master key {self.kid}"
            raise MasterKeyMismatch(msg) from None


def _wrap_aad(volunteer_id: str, kid: str) -> bytes:
    return f"{volunteer_id} {kid}".encode()


def load_master_key(settings: Settings) -> MasterKey:
    """The configured master key: the setting, else the key file; a clear error if neither."""
    if settings.master_key is not None:
        text = settings.master_key.get_secret_value()
        where = "TATAWWU_MASTER_KEY"
    else:
        path = settings.master_key_path
        if not path.exists():
            msg = (
                f"no master key: set TATAWWU_MASTER_KEY, or run `tatawwu infra up`, which "
                f"makes {path} for the local stack"
            )
            raise MasterKeyMissing(msg)
        text, where = path.read_text(), str(path)
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        msg = f"the master key in {where} is not base64"
        raise MasterKeyMissing(msg) from None
    return MasterKey.of(raw)


def ensure_master_key_file(path: Path) -> bool:
    """Make a random master key file (mode 0600) unless one exists; True when made.

    Written to a temporary file and linked into place: two processes racing both end up
    reading the same complete key.
    """
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink()


class KeyService(Protocol):
    """What producers and consumers need of a key store (PostgreSQL here, a KMS elsewhere)."""

    async def keys_for(self, volunteer_ids: Collection[str]) -> dict[str, DataKey]:
        """Each volunteer's data key, made when missing. Erased volunteers are absent."""
        ...

    async def keys_by_id(self, kids: Collection[str]) -> dict[str, DataKey]:
        """The data keys named by `kid`; destroyed or unknown ones are absent."""
        ...

    async def destroy(self, volunteer_id: str) -> bool:
        """Destroy a volunteer's data key for good; True if it existed and was live."""
        ...

    def forget(self, volunteer_id: str) -> None:
        """Never use a cached key of this volunteer again (they were erased)."""
        ...

    def forget_all(self) -> None:
        """Drop every cached key (keys destroyed since are then seen as destroyed)."""
        ...


class PgKeyService:
    """Data keys in PostgreSQL (`<schema>.volunteer_keys`), wrapped, cached in memory."""

    def __init__(
        self, db: asyncpg.Pool, master: MasterKey, schema: str = DEFAULT_SCHEMA,
        cache_size: int = 200_000, ttl_s: float = 2.0,
    ) -> None:  # fmt: skip
        self.db, self.master, self.schema, self.cache_size = db, master, schema, cache_size
        # Producers trust a cached key this long: an erasure elsewhere takes effect on every
        # entry point within it (consumers learn of it from `volunteer.erased`).
        self.ttl_s = ttl_s
        self._by_kid: OrderedDict[str, DataKey] = OrderedDict()
        self._by_volunteer: dict[str, tuple[str, float]] = {}  # volunteer -> (kid, cached at)
        self._destroyed: set[str] = set()  # kids known destroyed: never asked again
        self._ready = False
        self.queries = 0  # round trips to PostgreSQL (benchmarks and tests read it)

    async def ensure(self) -> None:
        """Create the key store's tables when missing (once per process)."""
        if not self._ready:
            async with self.db.acquire() as conn:
                await execute_locked(conn, f"keys:{self.schema}", _DDL.format(schema=self.schema))
            self._ready = True

    def _remember(self, key: DataKey) -> DataKey:
        self._by_kid[key.kid] = key
        self._by_volunteer[key.volunteer_id] = (key.kid, time.monotonic())
        while len(self._by_kid) > self.cache_size:
            _, old = self._by_kid.popitem(last=False)
            self._by_volunteer.pop(old.volunteer_id, None)
        return key

    def _open_row(self, row: asyncpg.Record) -> DataKey | None:
        if row["wrapped"] is None:
            self._destroyed.add(row["kid"])
            return None
        raw = self.master.unwrap(row["volunteer_id"], row["kid"], row["wrapped"], row["master_kid"])
        return self._remember(DataKey(row["kid"], row["volunteer_id"], AESGCM(raw)))

    def forget(self, volunteer_id: str) -> None:
        """Drop a volunteer's key from this process's cache (it was destroyed elsewhere)."""
        cached = self._by_volunteer.pop(volunteer_id, None)
        if cached is not None:
            self._by_kid.pop(cached[0], None)
            self._destroyed.add(cached[0])

    def forget_all(self) -> None:
        """Drop every cached key: a consumer given partitions another process served may
        have missed a `volunteer.erased` there, so it asks PostgreSQL again."""
        self._by_kid.clear()
        self._by_volunteer.clear()

    async def keys_for(self, volunteer_ids: Collection[str]) -> dict[str, DataKey]:
        found: dict[str, DataKey] = {}
        missing = []
        fresh_after = time.monotonic() - self.ttl_s
        for volunteer_id in set(volunteer_ids):
            kid, cached_at = self._by_volunteer.get(volunteer_id, ("", 0.0))
            if cached_at > fresh_after and kid in self._by_kid:
                found[volunteer_id] = self._by_kid[kid]
            else:
                missing.append(volunteer_id)
        if not missing:
            return found
        await self.ensure()
        fresh, wrapped = _fresh_keys(self.master, sorted(missing))
        self.queries += 1
        # Insert what is missing (first maker wins), then read every asked row; the rows
        # made here come back without their wrap (this process holds the key already).
        rows = await self.db.fetch(
            f'with made as (insert into "{self.schema}".volunteer_keys'
            " (volunteer_id, kid, wrapped, master_kid)"
            " select * from unnest($1::text[], $2::text[], $3::bytea[], $4::text[])"
            " on conflict (volunteer_id) do nothing"
            " returning volunteer_id, kid, null::bytea as wrapped, null::text as master_kid)"
            " select * from made union all"
            f' select volunteer_id, kid, wrapped, master_kid from "{self.schema}".volunteer_keys'
            " where volunteer_id = any($1::text[])",
            list(fresh),
            [kid for kid, _ in fresh.values()],
            wrapped,
            [self.master.kid] * len(fresh),
            timeout=QUERY_TIMEOUT_S,
        )
        for row in rows:
            made = fresh.get(row["volunteer_id"])
            if made is not None and made[0] == row["kid"]:  # ours: no need to unwrap it
                key = self._remember(DataKey(made[0], row["volunteer_id"], AESGCM(made[1])))
            elif (key := self._open_row(row)) is None:
                continue
            found[key.volunteer_id] = key
        seen = {row["volunteer_id"] for row in rows}
        if late := [v for v in missing if v not in seen]:
            # Made by another process after this statement's snapshot: read it now.
            found.update(await self._read("volunteer_id", late))
        return found

    async def keys_by_id(self, kids: Collection[str]) -> dict[str, DataKey]:
        found = {kid: self._by_kid[kid] for kid in kids if kid in self._by_kid}
        ask = [kid for kid in set(kids) if kid not in found and kid not in self._destroyed]
        if ask:
            for key in (await self._read("kid", ask)).values():
                found[key.kid] = key
        return found

    async def _read(self, column: str, values: list[str]) -> dict[str, DataKey]:
        await self.ensure()
        self.queries += 1
        rows = await self.db.fetch(
            f'select volunteer_id, kid, wrapped, master_kid from "{self.schema}".volunteer_keys'
            f" where {column} = any($1::text[])",
            values,
            timeout=QUERY_TIMEOUT_S,
        )
        return {key.volunteer_id: key for row in rows if (key := self._open_row(row))}

    async def destroy(self, volunteer_id: str) -> bool:
        await self.ensure()
        row = await self.db.fetchrow(
            f'update "{self.schema}".volunteer_keys set wrapped = null,'
            " destroyed_at = coalesce(destroyed_at, now())"
            " where volunteer_id = $1 returning (destroyed_at = now()) as now_destroyed",
            volunteer_id,
        )
        self.forget(volunteer_id)
        return bool(row and row["now_destroyed"])


def _fresh_keys(
    master: MasterKey, volunteer_ids: list[str]
) -> tuple[dict[str, tuple[str, bytes]], list[bytes]]:
    """New (kid, data key) per volunteer and the wraps, from one read of the system's
    random source (a `kid` is 12 random bytes in URL-safe base64, as `token_urlsafe(12)`)."""
    size = 12 + KEY_BYTES + NONCE_BYTES
    pool = os.urandom(size * len(volunteer_ids))
    fresh, wrapped = {}, []
    for n, volunteer_id in enumerate(volunteer_ids):
        at = n * size
        kid = base64.urlsafe_b64encode(pool[at : at + 12]).decode()
        raw = pool[at + 12 : at + 12 + KEY_BYTES]
        fresh[volunteer_id] = (kid, raw)
        wrapped.append(master.wrap(volunteer_id, kid, raw, pool[at + 12 + KEY_BYTES : at + size]))
    return fresh, wrapped


def build_key_service(settings: Settings, db: asyncpg.Pool) -> PgKeyService:
    """The key service every process uses: PostgreSQL, the configured master key.

    One store for every topic prefix (tests included): a key is found by its random
    `kid`, so stores need no isolation to be correct.
    """
    return PgKeyService(
        db, load_master_key(settings), DEFAULT_SCHEMA, settings.key_cache_size,
        settings.key_cache_s,
    )  # fmt: skip
