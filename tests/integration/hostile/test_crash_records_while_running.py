"""Records that could crash a consumer, published while the platform runs, stop nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest

from infra.db import connect
from infra.settings import Settings
from producers.simulator import SimConfig, simulate
from tatawwu.manifest import PROJECTORS
from tests.integration.hostile.attacks import Garbage, garbage
from tests.integration.hostile.platform import (
    Platform,
    dead_letter_topic,
    dead_letters,
    publish,
)
from tests.integration.hostile.world import narrow, without_empty_cells
from tests.support.events import TOPIC, event
from tests.support.hostile import partner_world
from tests.support.projectors import create_prefixed_topics
from tests.support.truth import compare

pytestmark = [pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
CONFIG = SimConfig(seed=41, volunteers=150, days=8, until=dt.date(2026, 8, 31))
# Valid RFC 3339 at the very edges of what converts to UTC: judged, and refused, by time.
EDGES = (("9999-12-31T23:59:59Z", "time_in_future"), ("9999-12-31T23:59:59+00:01", "time_in_future"),
         ("0001-01-01T00:00:00Z", "time_before_epoch"), ("0001-01-01T00:00:00-00:01", "time_before_epoch"))  # fmt: skip


async def test_hostile_bytes_published_while_the_projectors_run_stop_nothing(
    stack: Settings,
) -> None:
    """Valid events, then a time out of range once in UTC, bad JSON, deep nesting, a
    tombstone, bytes that are not UTF-8, an array, an unknown type, an oversized record,
    a fact on the wrong topic and events at the edges of time (keyed like the valid events
    that follow, so they share their partitions), then more valid events: the four
    projectors keep running, each dead-letters every hostile record on its topics with its
    reason (in `_deadletters` and on the prefixed dead-letter topic) and applies every
    event after them; the read models equal the simulator's truth."""
    unique = uuid.uuid4().hex[:10]
    prefix = f"hc.{unique}."
    await create_prefixed_topics(stack, prefix)
    simulation = simulate(CONFIG, topic_prefix=prefix)
    records = [(r.topic, r.key, r.value) for r in simulation.records]
    split = len(records) * 3 // 5
    later = [orjson.loads(value) for _, _, value in records[split:]]
    key = next(d["subject"] for d in later if d["type"] == "volunteer.signed_up").encode()
    hostile = partner_world(CONFIG, "org-hostile", "hc")
    bad = garbage(key, hostile)
    for n, (time, reason) in enumerate(EDGES):
        doc = event("volunteer.signed_up", f"hc-edge-{n}", dt.datetime.now(dt.UTC), source=hostile.source,
                    volunteer_id=key.decode(), opportunity_id="opp-000001", campaign_id="cmp-00001")  # fmt: skip
        doc["time"] = time
        bad.append(Garbage(f"time {time}", "tatawwu.signups", key, orjson.dumps(doc), reason,
                           f"{reason} at time:", None))  # fmt: skip

    platform = Platform(stack, PROJECTORS, prefix, f"hc_{unique}")
    conn = await connect(stack)
    try:
        async with platform:
            await publish(stack, records[:split])
            await platform.caught_up(conn)
            landed = await publish(stack, [(prefix + g.topic, g.key, g.value) for g in bad])
            await publish(stack, records[split:])
            await platform.caught_up(conn)
            platform.check_running()
            assert platform.stopped_early == {}
        assert platform.outcomes == {}

        on_topic = await dead_letter_topic(stack, prefix)
        for name, projector in PROJECTORS.items():
            schema = platform.schemas[name]
            found = await dead_letters(conn, schema)
            expected = {
                p: g for g, p in zip(bad, landed, strict=True) if g.topic in projector.topics
            }
            assert {p: r for p, (r, _) in found.items()} == {
                p: g.reason for p, g in expected.items()
            }
            for position, bad_record in expected.items():
                assert bad_record.fragment in found[position][1], (name, bad_record.label)
            assert on_topic[name] == {p: g.reason for p, g in expected.items()}, name
            seen = {r[0] for r in await conn.fetch(f'select event_id from "{schema}"._events')}
            after = {
                f"{d['source']} {d['id']}" for d in later if TOPIC[d["type"]] in projector.topics
            }
            assert after - seen == set(), name  # every event after the hostile bytes was read
        schemas = {name: platform.schemas[name] for name in PROJECTORS}
        truth = without_empty_cells(simulation.truth())
        assert narrow(await compare(conn, schemas, truth)) == {}
    finally:
        await conn.close()
