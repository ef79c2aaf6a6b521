"""Dead letters whose payload is sealed: the diagnostics readable, the partner's record not.

The router dead-letters what partners wrote to their ingress topics, in clear and often
personal (a registration refused for its source carries a name, a phone, an email), to a
topic kept a year and a table. So the letter's value is encrypted before it is sent
(AES-256-GCM, associated data: the letter's origin, so a payload cannot be moved to
another letter); its headers (projector, error, error_detail, original topic/partition/
offset, the original record's headers: ids and types, never a field value) stay readable.

Which key:
- the record names a volunteer (`data.volunteer_id`, or the subject of a `volunteer.*`
  event, read leniently: the record may be no valid event): that volunteer's data key
  (`infra.keys`, made when missing), so erasing the volunteer makes the letter
  unreadable like every fact of theirs on the log;
- a volunteer already erased: the payload is dropped (`value_dropped: volunteer_erased`):
  their personal data is not stated again, not even to a dead letter;
- a record too broken to parse (cut short, not JSON): its bytes are searched for the
  same two names (`"volunteer_id": "..."`, or a `volunteer.*` type and its subject);
- a broken record where neither is found, with a Kafka key that is a valid id (partners
  key by the subject, which may be a volunteer): sealed twice, with that id's data key
  and then the platform's key of the day, so it opens only while both live: an erasure
  of that volunteer ends it, and so does the retention purge if the key named no one;
- anything else: the platform's dead-letter key of the day (`~deadletters/<date>`, an id
  no volunteer can have), destroyed by the retention purge once older than
  `TATAWWU_DEADLETTER_KEEP_DAYS` (`drop_expired_keys`; a payload whose key is missing is
  dropped, never sent in clear).

Headers added (before `original_headers`): `value_sealed` (`volunteer`, `platform` or
`volunteer+platform`) and `value_kid` (the kids, innermost first, space-separated).
`open_value` gives the payload back while its keys live (`tatawwu dlq replay|show`); a
letter without them (a projector's: canonical records are sealed already) is read as it is.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

import orjson
import structlog
from cryptography.exceptions import InvalidTag

from consumers.runtime.deadletters import ORIGINAL_HEADERS, original_of
from infra.bus import Outgoing
from infra.keys import DEFAULT_SCHEMA, DataKey, KeyService
from infra.periodic import every
from schemas.common import ID_PATTERN
from schemas.topics import DEADLETTER

log = structlog.get_logger(__name__)
SEALED, KID, DROPPED = "value_sealed", "value_kid", "value_dropped"
PLATFORM_PREFIX = "~deadletters/"  # `~` and `/`: never in a volunteer id (ID_PATTERN)
NONCE_BYTES = 12
_ID = re.compile(ID_PATTERN)
# A broken record's bytes, searched: the names a JSON document would have held.
_NAMED = re.compile(rb'"volunteer_id"\s*:\s*"([^"\\]{1,64})"')
_VOLUNTEER_TYPE = re.compile(rb'"type"\s*:\s*"volunteer\.')
_SUBJECT = re.compile(rb'"subject"\s*:\s*"([^"\\]{1,64})"')
Headers = list[tuple[str, bytes]]


def platform_key_id(day: dt.date, topic_prefix: str = "") -> str:
    """The key-service id of the platform's dead-letter key of `day` (per topic prefix:
    a test's keys are its own)."""
    return f"{PLATFORM_PREFIX}{topic_prefix}{day.isoformat()}"


def volunteer_named(value: bytes | None, headers: Sequence[tuple[str, bytes]]) -> str | None:
    """The volunteer a record (structured or binary CloudEvent, valid or not) names, if any."""
    heads = {name: bytes(v) for name, v in headers}
    try:
        document = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        if "ce_type" not in heads:
            return _searched(value or b"")
        document = None
    if "ce_type" in heads:  # binary mode: the envelope in headers, the data in the value
        data, kind = document, heads.get("ce_type", b"").decode(errors="replace")
        subject: Any = heads.get("ce_subject", b"").decode(errors="replace")
    elif isinstance(document, dict):
        data, kind, subject = document.get("data"), document.get("type"), document.get("subject")
    else:
        return None
    named = data.get("volunteer_id") if isinstance(data, dict) else None
    if not isinstance(named, str) and isinstance(kind, str) and kind.startswith("volunteer."):
        named = subject
    return named if isinstance(named, str) and _ID.match(named) else None


def _searched(raw: bytes) -> str | None:
    """The volunteer a broken structured record names, found in its bytes."""
    found = _NAMED.search(raw)
    if found is None and _VOLUNTEER_TYPE.search(raw):
        found = _SUBJECT.search(raw)
    named = found.group(1).decode(errors="replace") if found else None
    return named if named is not None and _ID.match(named) else None


def _keyed(letter: Outgoing) -> str | None:
    """A broken record's Kafka key, when it could be a volunteer's id (partners key by
    subject); None for a record that parses (what it names, or not, is known)."""
    try:
        orjson.loads(letter.value or b"")
    except orjson.JSONDecodeError:
        key = (letter.key or b"").decode(errors="replace")
        return key if _ID.match(key) else None
    return None


def _aad(headers: dict[str, bytes]) -> bytes:
    where = [
        headers.get(n, b"") for n in ("original_topic", "original_partition", "original_offset")
    ]
    return b"tatawwu.deadletter " + b" ".join(where)


def _with(sent: Sequence[tuple[str, bytes]], added: Headers) -> Headers:
    """`added` among the letter's own headers (before the original record's)."""
    headers = list(sent)
    names = [name for name, _ in headers]
    at = names.index(ORIGINAL_HEADERS) if ORIGINAL_HEADERS in names else len(headers)
    return [*headers[:at], *added, *headers[at:]]


async def seal_letters(
    keys: KeyService, sends: Sequence[Any], topic_prefix: str = "", today: dt.date | None = None
) -> list[Any]:
    """`sends` with each dead letter (an `Outgoing` to the dead-letter topic) sealed, or
    its payload dropped when its key is gone: never in clear. One key lookup."""
    topic = topic_prefix + DEADLETTER.name
    letters = [s for s in sends if type(s) is Outgoing and s.topic == topic and s.value]
    if not letters:
        return list(sends)
    platform = platform_key_id(today or dt.datetime.now(dt.UTC).date(), topic_prefix)
    # Per letter, the key ids to seal with (innermost first) and what they are.
    plan: dict[int, tuple[list[str], bytes]] = {}
    for letter in letters:
        if volunteer := volunteer_named(letter.value, original_of(letter.headers)[1]):
            plan[id(letter)] = [volunteer], b"volunteer"
        elif keyed := _keyed(letter):
            plan[id(letter)] = [keyed, platform], b"volunteer+platform"
        else:
            plan[id(letter)] = [platform], b"platform"
    found = await keys.keys_for({k for ids, _ in plan.values() for k in ids})
    sealed: dict[int, Outgoing] = {}
    for letter in letters:
        ids, kind = plan[id(letter)]
        if all(k in found for k in ids):
            sealed[id(letter)] = _sealed(letter, [found[k] for k in ids], kind)
        else:  # erased: nothing of theirs is kept (or the day's key was dropped)
            lost = platform in ids and platform not in found
            why = b"platform_key_destroyed" if lost else b"volunteer_erased"
            headers = _with(letter.headers, [(DROPPED, why)])
            sealed[id(letter)] = replace(letter, value=b"", headers=headers)
    return [sealed.get(id(s), s) for s in sends]


def _sealed(letter: Outgoing, keys: Sequence[DataKey], kind: bytes) -> Outgoing:
    """The letter's payload encrypted with each key in turn (innermost first)."""
    assert letter.value is not None
    own, _ = original_of(letter.headers)
    value = letter.value
    for key in keys:
        nonce = os.urandom(NONCE_BYTES)
        value = nonce + key.cipher.encrypt(nonce, value, _aad(own))
    kids = " ".join(key.kid for key in keys).encode()
    headers = _with(letter.headers, [(SEALED, kind), (KID, kids)])
    return replace(letter, value=value, headers=headers)


def kids_of(headers: Collection[dict[str, bytes]]) -> set[str]:
    """The keys these letters' payloads are sealed with."""
    return {kid for h in headers if KID in h for kid in h[KID].decode().split()}


def open_value(
    headers: dict[str, bytes], value: bytes | None, keys: dict[str, DataKey]
) -> bytes | None:
    """The payload of a letter (its own headers by name): as sent when not sealed, opened
    when its key is in `keys` (by kid), None when the key is gone or it was dropped."""
    if DROPPED in headers:
        return None
    if KID not in headers:
        return value
    kids = headers[KID].decode().split()
    if not value or any(kid not in keys for kid in kids):
        return None
    try:
        for kid in reversed(kids):  # the outermost seal first
            value = keys[kid].cipher.decrypt(
                value[:NONCE_BYTES], value[NONCE_BYTES:], _aad(headers)
            )
    except (InvalidTag, ValueError):
        return None
    return value


async def drop_expired_keys(
    keys: Any, keep_days: float, today: dt.date | None = None, topic_prefix: str = ""
) -> int:
    """Destroy the platform's dead-letter keys older than `keep_days` (never today's: it
    seals the letters still coming); how many (idempotent).

    `keys` is the PostgreSQL key service (`infra.keys.PgKeyService`): its table is read to
    find the live dead-letter keys, and each is destroyed through its public `destroy`.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    oldest_kept = today - dt.timedelta(days=keep_days)
    await keys.ensure()
    rows = await keys.db.fetch(
        f'select volunteer_id from "{DEFAULT_SCHEMA}".volunteer_keys'
        " where volunteer_id like $1 and wrapped is not null",
        PLATFORM_PREFIX + topic_prefix + "%",
    )
    dropped, head = 0, len(PLATFORM_PREFIX + topic_prefix)
    for row in rows:
        try:  # another prefix's keys (a test's) do not parse: left alone
            day = dt.date.fromisoformat(row["volunteer_id"][head:])
        except ValueError:
            continue
        if day < min(oldest_kept, today) and await keys.destroy(row["volunteer_id"]):
            dropped += 1
    return dropped


async def run_key_retention(
    keys: Any, keep_days: float, interval_s: float, stopping: asyncio.Event,
    topic_prefix: str = "",
) -> None:  # fmt: skip
    """Drop expired dead-letter keys at start, then every `interval_s`, until `stopping`
    (the router runs it; several routers doing it at once destroy each key once)."""

    async def purge() -> None:
        if dropped := await drop_expired_keys(keys, keep_days, topic_prefix=topic_prefix):
            log.info("deadletter_keys_dropped", keys=dropped, keep_days=keep_days)

    await every(interval_s, stopping, purge, "deadletter_key_purge_failed")
