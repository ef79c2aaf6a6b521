"""Erasing a volunteer: destroy their data key, then tell every consumer (`volunteer.erased`).

Three steps, each recorded in `keys.erasures` and each safe to repeat, so an erasure
killed at any point (SIGKILL included) is completed by running it again, or by `resume`:

1. the request is recorded (`requested_at`);
2. the volunteer's data key is destroyed (`infra.keys`: every personal field of theirs on
   the log, in backups and in every copy becomes unreadable at once), `key_destroyed_at`;
3. `volunteer.erased` is published from the platform (`platform/erasure`, id
   `erased-<volunteer id>`, time = the request's: a repeat is the same event, which every
   consumer counts once), `published_at`. Projectors then drop the volunteer's personal
   columns and history, the notifier their contact details and pending messages.

Then the ingress records the router has already forwarded are deleted (`infra.ingress`:
the partners' topics hold personal data in clear until the router's periodic trim, and an
erasure does not wait for it); a record not yet routed stays until it is, then goes.

Until step 2 commits, nothing is erased (the key is intact); from then on the volunteer
is erased everywhere that reads the log, and step 3 only tells the read models sooner
than a rebuild would. What aggregates keep: `schemas/PERSONAL_DATA.md`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import structlog
from pydantic_core import to_json

from infra.bus import Outgoing, emit
from infra.db import create_pool
from infra.ingress import forget_routed
from infra.kafka import build_producer
from infra.keys import DEFAULT_SCHEMA, PgKeyService, build_key_service
from infra.settings import Settings
from schemas.decode import decode_event, encode_event
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.registry import CURRENT
from schemas.topics import VOLUNTEERS

log = structlog.get_logger(__name__)
SOURCE = "platform/erasure"
PUBLISH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Erasure:
    """Where one volunteer's erasure stands."""

    volunteer_id: str
    requested_at: dt.datetime
    key_destroyed_at: dt.datetime | None
    published_at: dt.datetime | None

    @property
    def done(self) -> bool:
        return self.published_at is not None


def erased_event(volunteer_id: str, requested_at: dt.datetime) -> Event[Any]:
    """The `volunteer.erased` fact of one request (the same bytes every time it is made)."""
    spec = CURRENT["volunteer.erased"]
    document = {
        "specversion": "1.0", "id": f"erased-{volunteer_id}", "source": SOURCE,
        "type": spec.type, "subject": volunteer_id, "dataschema": spec.dataschema,
        "time": requested_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "data": {"volunteer_id": volunteer_id},
    }  # fmt: skip
    event = decode_event(to_json(document))
    if isinstance(event, DecodeError):
        msg = f"cannot erase {volunteer_id!r}: {event.summary()}"
        raise ValueError(msg)
    return event


async def _state(keys: PgKeyService, volunteer_id: str) -> Erasure | None:
    row = await keys.db.fetchrow(
        f'select * from "{keys.schema}".erasures where volunteer_id = $1', volunteer_id
    )
    return Erasure(**dict(row)) if row is not None else None


async def erase(
    settings: Settings, volunteer_ids: list[str], topic_prefix: str = ""
) -> list[Erasure]:
    """Erase each volunteer (or finish an erasure a crash left half done); their states."""
    pool = await create_pool(settings, min_size=1, max_size=2)
    producer = None
    try:
        keys = build_key_service(settings, pool)
        await keys.ensure()
        done = []
        for volunteer_id in volunteer_ids:
            erased_event(volunteer_id, dt.datetime.now(dt.UTC))  # a valid id, before anything
            await pool.execute(
                f'insert into "{keys.schema}".erasures (volunteer_id) values ($1)'
                " on conflict (volunteer_id) do nothing",
                volunteer_id,
            )
            state = await _state(keys, volunteer_id)
            assert state is not None
            if state.key_destroyed_at is None:
                await keys.destroy(volunteer_id)
                await pool.execute(
                    f'update "{keys.schema}".erasures set key_destroyed_at = now()'
                    " where volunteer_id = $1",
                    volunteer_id,
                )
                log.info("volunteer_key_destroyed", volunteer_id=volunteer_id)
            if state.published_at is None:
                if producer is None:
                    producer = build_producer(settings)
                    await producer.start()
                event = erased_event(volunteer_id, state.requested_at)
                record = Outgoing(topic_prefix + VOLUNTEERS.name, event.subject.encode(),
                                  encode_event(event))  # fmt: skip
                await emit(producer, [record], PUBLISH_TIMEOUT_S)
                await pool.execute(
                    f'update "{keys.schema}".erasures set published_at = now()'
                    " where volunteer_id = $1",
                    volunteer_id,
                )
                log.info("volunteer_erased", volunteer_id=volunteer_id)
            state = await _state(keys, volunteer_id)
            assert state is not None
            done.append(state)
        try:
            starts = await forget_routed(settings, topic_prefix)
            log.info("ingress_routed_forgotten", partitions=len(starts))
        except Exception as exc:  # the router's periodic trim does it later
            log.warning("ingress_forget_failed", error=type(exc).__name__)
        return done
    finally:
        if producer is not None:
            await producer.stop()
        await pool.close()


async def pending(settings: Settings) -> list[str]:
    """Volunteers whose erasure was requested and not finished (a crash, an outage)."""
    pool = await create_pool(settings, min_size=1, max_size=1)
    try:
        keys = build_key_service(settings, pool)
        await keys.ensure()
        rows = await pool.fetch(
            f'select volunteer_id from "{DEFAULT_SCHEMA}".erasures where published_at is null'
            " order by requested_at"
        )
        return [r["volunteer_id"] for r in rows]
    finally:
        await pool.close()
