"""Subject access: everything the platform holds about one volunteer, as one JSON document.

What `tatawwu volunteers export ID` prints and `GET /v1/volunteers/{id}/export` answers,
gathered here once, from the read models as PostgreSQL holds them (one read-only,
repeatable-read transaction, so the parts agree with each other):

- `profile`: the volunteers read model's row, with the volunteer's totals;
- `profile_history`: every profile fact the read model keeps (`history`: registration,
  profile updates, consent changes, erasure), each with its time, source and fields, so
  earlier phones or names still held come back too; `consent_history` is its consent part;
- `participations`: each (opportunity) sign-up, check-in, check-out, hours, no-show, with
  the organisation that owns the opportunity and the sources that stated them;
- `notifications`: the notifier's ledger (template, channel, status, times), its contact
  row and its consent holds;
- `kpi_demographics`: the participation read model's copy of the attributes the KPI
  breaks down by (other read models' copies of the same facts are not repeated);
- `organisations`: which organisations supplied these facts, and what each supplied.

The read models hold personal fields opened (projectors open them through the key service
when they decode); a field still encrypted there is opened here through the same key
service (`infra.sealing.open_events`). An erased volunteer (an erasure was requested:
their key is or is about to be destroyed) gets `erased: true` and no personal field at all,
whatever a lagging read model still holds. The read models' schemas are parameters
(`ReadModels`): production uses the projectors' own, tests their isolated copies.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass, fields
from typing import Any

import asyncpg
import structlog
from pydantic_core import to_json

from infra.db import create_pool
from infra.keys import DEFAULT_SCHEMA as KEYS_SCHEMA
from infra.keys import KeyService, build_key_service
from infra.sealing import open_events
from infra.settings import Settings
from schemas.decode import decode_event
from schemas.errors import DecodeError
from schemas.personal import personal_fields
from schemas.registry import CURRENT
from schemas.volunteers import VolunteerRegistered, VolunteerRegisteredV1

log = structlog.get_logger(__name__)
PERSONAL = frozenset(personal_fields(VolunteerRegistered) + personal_fields(VolunteerRegisteredV1))
"""Every field of a volunteer that is personal (none is returned once they are erased)."""
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_SEALED_KEYS = frozenset({"enc", "kid", "iv", "ct"})
_REFERENCE_KEYS = frozenset({"enc", "in"})


class UnknownVolunteer(LookupError):
    """Nothing at all is held about this volunteer id."""


@dataclass(frozen=True)
class ReadModels:
    """The schema of each read model an export reads (the projectors' names by default)."""

    volunteers: str = "volunteers"
    notifications: str = "notifications"
    organizations: str = "organizations"
    participation: str = "participation"

    def __post_init__(self) -> None:
        for f in fields(self):
            if not _IDENTIFIER.match(getattr(self, f.name)):
                msg = f"{getattr(self, f.name)!r} is not a plain lower-case schema name"
                raise ValueError(msg)


async def gather(
    db: asyncpg.Pool, keys: KeyService, volunteer_id: str, places: ReadModels | None = None
) -> dict[str, Any]:
    """The export of one volunteer (see the module docstring); `UnknownVolunteer` if none."""
    places = places or ReadModels()
    async with db.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        erasure = await _erasure(conn, volunteer_id)
        profile = await _one(conn, places.volunteers, "volunteer_directory", volunteer_id)
        history = await _history(conn, places.volunteers, volunteer_id)
        participations = await _participations(conn, places, volunteer_id)
        ledger = await _rows(conn, places.notifications, "outbox", _LEDGER, volunteer_id)
        contact = await _one(conn, places.notifications, "contacts", volunteer_id)
        holds = await _rows(conn, places.notifications, "consent_holds", _HOLDS, volunteer_id)
        demographics = await _one(conn, places.participation, "volunteer_profiles", volunteer_id)
        held = (profile, history, participations, ledger, contact, holds, demographics)
        if erasure is None and not any(held):
            msg = f"nothing is held about volunteer {volunteer_id!r}"
            raise UnknownVolunteer(msg)
        supplied = _supplied(history, participations)
        names = await _organisation_names(conn, places.organizations, sorted(supplied))
    erased = erasure is not None or (profile or {}).get("status") == "erased"
    if not erased:  # after the transaction: the key service may need a connection of its own
        history = await _open_sealed(keys, volunteer_id, history)
    document = {
        "volunteer_id": volunteer_id,
        "exported_at": dt.datetime.now(dt.UTC),
        "erased": erased,
        "erasure": erasure,
        "profile": _profile(profile),
        "profile_history": history,
        "consent_history": [
            {k: h[k] for k in ("time", "type", "source")} | {"consent": h["data"]["consent"]}
            for h in history
            if "consent" in h["data"]
        ],
        "participations": participations,
        "notifications": ledger,
        "notifier_contact": contact,
        "consent_holds": holds,
        "kpi_demographics": demographics,
        "organisations": [
            {
                "org_id": org,
                **names.get(org, {"name_en": None, "name_ar": None}),
                "supplied": sorted(kinds),
            }
            for org, kinds in sorted(supplied.items())
        ],
    }
    if erased:
        document = _without_personal(document)
    log.info(
        "subject_access_exported", volunteer_id=volunteer_id, erased=erased,
        history=len(history), participations=len(participations), notifications=len(ledger),
    )  # fmt: skip
    return _plain(document)


async def export(
    settings: Settings, volunteer_id: str, places: ReadModels | None = None
) -> dict[str, Any]:
    """`gather` with a pool and key service of its own (the CLI's entry point)."""
    pool = await create_pool(settings, min_size=1, max_size=2)
    try:
        return await gather(pool, build_key_service(settings, pool), volunteer_id, places)
    finally:
        await pool.close()


# ---------------------------------------------------------------- reading


_LEDGER = (
    "created_at, notification_id, template, channel, status, finished_at, reason,"
    " cause_event_id, context, reply, replied_at"
)  # ordered by its first two columns
_HOLDS = "since, channel, event_id, source"


async def _exists(conn: asyncpg.Connection, schema: str, table: str) -> bool:
    """Whether the table (or view) exists: a read model not created yet holds nothing."""
    return bool(await conn.fetchval("select to_regclass($1)", f'"{schema}"."{table}"'))


async def _erasure(conn: asyncpg.Connection, volunteer_id: str) -> dict[str, Any] | None:
    if not await _exists(conn, KEYS_SCHEMA, "erasures"):
        return None
    row = await conn.fetchrow(
        f'select requested_at, key_destroyed_at, published_at from "{KEYS_SCHEMA}".erasures'
        " where volunteer_id = $1",
        volunteer_id,
    )
    return dict(row) if row is not None else None


async def _one(
    conn: asyncpg.Connection, schema: str, table: str, volunteer_id: str
) -> dict[str, Any] | None:
    if not await _exists(conn, schema, table):
        return None
    row = await conn.fetchrow(
        f'select * from "{schema}"."{table}" where volunteer_id = $1', volunteer_id
    )
    return {k: v for k, v in dict(row).items() if k != "volunteer_id"} if row else None


async def _rows(
    conn: asyncpg.Connection, schema: str, table: str, columns: str, volunteer_id: str
) -> list[dict[str, Any]]:
    if not await _exists(conn, schema, table):
        return []
    rows = await conn.fetch(
        f'select {columns} from "{schema}"."{table}" where volunteer_id = $1 order by 1, 2',
        volunteer_id,
    )
    return [dict(r) for r in rows]


async def _history(
    conn: asyncpg.Connection, schema: str, volunteer_id: str
) -> list[dict[str, Any]]:
    if not await _exists(conn, schema, "history"):
        return []
    rows = await conn.fetch(
        f'select event_time, event_id, source, event_type, data from "{schema}".history'
        " where aggregate = 'volunteer' and aggregate_id = $1"
        " order by event_time, event_id, source",
        volunteer_id,
    )
    return [
        {"time": r["event_time"], "type": r["event_type"], "event_id": r["event_id"],
         "source": r["source"], "data": {k: v for k, v in r["data"].items()
                                         if k != "volunteer_id"}}
        for r in rows
    ]  # fmt: skip


async def _participations(
    conn: asyncpg.Connection, places: ReadModels, volunteer_id: str
) -> list[dict[str, Any]]:
    if not await _exists(conn, places.volunteers, "participations"):
        return []
    owners = await _exists(conn, places.organizations, "org_campaigns")
    org = "c.org_id" if owners else "null::text"
    join = (
        f'left join "{places.organizations}".org_campaigns c using (campaign_id)' if owners else ""
    )
    rows = await conn.fetch(
        f"select p.opportunity_id, p.campaign_id, {org} as org_id, p.signup_status,"
        " p.signup_time as signed_up_at, p.signup_source, p.checked_in_at, p.checked_out_at,"
        " p.hours, p.first_verified_at as hours_verified_at, p.hours_source, p.no_show"
        f' from "{places.volunteers}".participations p {join}'
        " where p.volunteer_id = $1 order by p.opportunity_id",
        volunteer_id,
    )
    return [dict(r) for r in rows]


async def _organisation_names(
    conn: asyncpg.Connection, schema: str, org_ids: list[str]
) -> dict[str, Any]:
    if not org_ids or not await _exists(conn, schema, "organizations"):
        return {}
    rows = await conn.fetch(
        f'select org_id, name_en, name_ar from "{schema}".organizations'
        " where org_id = any($1::text[])",
        org_ids,
    )
    return {r["org_id"]: {"name_en": r["name_en"], "name_ar": r["name_ar"]} for r in rows}


# ---------------------------------------------------------------- shaping


async def _open_sealed(
    keys: KeyService, volunteer_id: str, history: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """History entries whose fields are still encrypted, opened through the key service.

    The entry is rebuilt as its event (same source, id, subject and time: the associated
    data the fields were sealed under); a field that does not open is left out.
    """
    for entry in history:
        sealed = [k for k, v in entry["data"].items() if _is_sealed(v)]
        spec = CURRENT.get(entry["type"])
        if not sealed or spec is None:
            continue
        document = {
            "specversion": "1.0", "id": entry["event_id"], "source": entry["source"],
            "type": spec.type, "subject": volunteer_id, "dataschema": spec.dataschema,
            "time": entry["time"], "data": {"volunteer_id": volunteer_id, **entry["data"]},
        }  # fmt: skip
        event = decode_event(to_json(document))
        if isinstance(event, DecodeError):
            opened: dict[str, Any] = {}
        else:
            [event] = await open_events(keys, [event])
            opened = event.data.model_dump(mode="json", exclude_unset=True)
        for name in sealed:
            value = opened.get(name)
            if value is None or _is_sealed(value):
                del entry["data"][name]
            else:
                entry["data"][name] = value
    return history


def _is_sealed(value: Any) -> bool:
    """A ciphertext, or a reference to the event's ciphertext (`{"enc", "in"}`)."""
    return isinstance(value, dict) and (
        value.keys() >= _SEALED_KEYS or value.keys() == _REFERENCE_KEYS
    )


def _profile(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    totals = ("signups", "attended", "verified_hours", "no_shows", "first_activity",
              "last_activity")  # fmt: skip
    profile = {k: v for k, v in row.items() if k not in totals}
    profile["totals"] = {k: row[k] for k in totals if k in row}
    return profile


def org_of(source: str) -> str | None:
    """The organisation a partner source names (`partner/<org_id>`), else None (platform)."""
    return source.removeprefix("partner/") if source.startswith("partner/") else None


def _supplied(
    history: list[dict[str, Any]], participations: list[dict[str, Any]]
) -> dict[str, set[str]]:
    """Each organisation that supplied facts, and which kinds of facts."""
    supplied: dict[str, set[str]] = {}
    for entry in history:
        if org := org_of(entry["source"]):
            supplied.setdefault(org, set()).add("profile")
    for p in participations:
        for column, what in (("signup_source", "signups"), ("hours_source", "hours")):
            if p[column] and (org := org_of(p[column])):
                supplied.setdefault(org, set()).add(what)
        if p["org_id"]:
            supplied.setdefault(p["org_id"], set()).add("participations")
    return supplied


def _without_personal(value: Any) -> Any:
    """The document with every personal field left out, at any depth (erased volunteers)."""
    if isinstance(value, dict):
        return {k: _without_personal(v) for k, v in value.items() if k not in PERSONAL}
    if isinstance(value, list):
        return [_without_personal(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    """JSON values: times in RFC 3339, numbers of hours as numbers, spans as from/until."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, asyncpg.Range):  # a span of time (alerts consent on: from, until)
        return {"from": _plain(value.lower), "until": _plain(value.upper)}
    return value
