"""Seeded event streams for projector tests, with the outcome they must produce.

A stream holds valid events (some re-sent with the same id), invalid records and
events that belong on another topic; `expected` is computed from the unique valid
events with the pure rules, so a projector that loses or double-applies anything
cannot match it.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer

from consumers.participations import Participation, fold_participations
from infra.kafka import build_producer
from infra.settings import Settings
from schemas.decode import decode_event
from tests.support.events import event

START = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
PARTICIPATION = {
    "volunteer.signed_up": "tatawwu.signups",
    "volunteer.signup_withdrawn": "tatawwu.signups",
    "volunteer.checked_in": "tatawwu.attendance",
    "volunteer.checked_out": "tatawwu.attendance",
    "volunteer.hours_verified": "tatawwu.attendance",
    "volunteer.no_show": "tatawwu.attendance",
}


@dataclass
class Stream:
    """Records to publish as (topic, key, value) and what the read model must end up as."""

    records: list[tuple[str, bytes, bytes]] = field(default_factory=list)
    unique_valid: int = 0
    duplicates: int = 0
    invalid: int = 0
    participations: dict[tuple[str, str], Participation] = field(default_factory=dict)
    campaigns: set[str] = field(default_factory=set)


def _event(i: int, event_type: str, when: dt.datetime, /, **data: Any) -> dict[str, Any]:
    # Not checked here: build_stream decodes every valid event once anyway, to fold them.
    return event(event_type, f"evt-{i:08d}", when, source="partner/org-test", check=False, **data)


def build_stream(
    events: int, *, seed: int = 7, volunteers: int = 2000, opportunities: int = 40,
    duplicate_share: float = 0.02, invalid_share: float = 0.005,
) -> Stream:  # fmt: skip
    """A shuffled-across-topics stream of about `events` records."""
    rng = random.Random(seed)
    stream = Stream()
    campaigns = [f"cmp-{c:03d}" for c in range(max(1, opportunities // 8))]
    opps = [(f"opp-{o:04d}", campaigns[o % len(campaigns)]) for o in range(opportunities)]
    valid: list[dict[str, Any]] = []
    for n, campaign in enumerate(campaigns):
        valid.append(_event(len(valid), "campaign.launched", START,
            campaign_id=campaign, org_id="org-test", title_ar="حملة", title_en=f"Drive {n}",
            kind="volunteer_drive", municipality="doha", starts_on="2026-03-01",
            ends_on="2026-04-30", target_volunteers=100, target_hours=400,
        ))  # fmt: skip
        stream.campaigns.add(campaign)
    for opp, campaign in opps:
        valid.append(_event(len(valid), "opportunity.published", START,
            opportunity_id=opp, campaign_id=campaign, title_ar="فرصة", title_en="Shift",
            starts_at="2026-03-10T06:00:00Z", ends_at="2026-03-10T10:00:00Z",
            capacity=rng.randint(5, 60), municipality="doha", min_age=16,
        ))  # fmt: skip
    kinds = list(PARTICIPATION)
    weights = [30, 5, 25, 20, 15, 5]
    while len(valid) < events:
        event_type = rng.choices(kinds, weights)[0]
        volunteer = f"vol-{rng.randrange(volunteers):06d}"
        opp, campaign = rng.choice(opps)
        at = START + dt.timedelta(minutes=rng.randrange(60 * 24 * 20))
        data: dict[str, Any] = {
            "volunteer_id": volunteer,
            "opportunity_id": opp,
            "campaign_id": campaign,
        }
        if event_type in ("volunteer.checked_in", "volunteer.checked_out"):
            data["at"] = at.isoformat().replace("+00:00", "Z")
        if event_type == "volunteer.checked_in":
            data["method"] = rng.choice(["qr", "kiosk", "manual", "geofence"])
        if event_type == "volunteer.hours_verified":
            data |= {"hours": rng.choice([1.0, 2.5, 3.0, 4.0]), "verified_by": "org-test"}
        valid.append(_event(len(valid), event_type, at, **data))
    stream.unique_valid = len(valid)
    decoded = [decode_event(orjson.dumps(e)) for e in valid]
    assert all(not hasattr(d, "reason") for d in decoded), "the generator produced an invalid event"
    stream.participations = fold_participations(d for d in decoded if d.type in PARTICIPATION)
    outgoing = list(valid)
    outgoing += [rng.choice(valid) for _ in range(int(events * duplicate_share))]
    stream.duplicates = len(outgoing) - len(valid)
    rng.shuffle(outgoing)  # cross-topic order is arbitrary; per-key order is not promised either
    for e in outgoing:
        topic = PARTICIPATION.get(e["type"], "tatawwu.campaigns")
        stream.records.append((topic, e["subject"].encode(), orjson.dumps(e)))
    bad = [b"{not json", orjson.dumps({"specversion": "1.0", "id": "x"}), b"\xff\xfe",
           orjson.dumps({**_event(0, "volunteer.signed_up", START), "type": "volunteer.exploded"})]  # fmt: skip
    for i in range(max(1, int(events * invalid_share))):
        position = rng.randrange(len(stream.records))
        stream.records.insert(
            position, (rng.choice(list(set(PARTICIPATION.values()))), b"bad", bad[i % len(bad)])
        )
        stream.invalid += 1
    return stream


async def publish(
    producer: AIOKafkaProducer, stream: Stream, prefix: str, start: int = 0, stop: int | None = None
) -> int:
    """Send records[start:stop] to the prefixed topics, pipelined; return how many."""
    futures = [
        await producer.send(prefix + topic, value, key=key)
        for topic, key, value in stream.records[start:stop]
    ]
    for future in futures:
        await future
    return len(futures)


async def publish_stream(settings: Settings, stream: Stream, prefix: str, **options: Any) -> int:
    """Publish the whole stream with a producer of its own (`options` configure it)."""
    producer = build_producer(settings, **options)
    await producer.start()
    try:
        return await publish(producer, stream, prefix)
    finally:
        await producer.stop()
