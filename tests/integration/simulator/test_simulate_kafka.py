"""`simulate --via kafka` against the real broker, on topics of its own."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import orjson
import pytest
from aiokafka import TopicPartition

from infra.settings import Settings
from producers.simulator import SimConfig, Via, run, simulate
from producers.simulator.run import prefixed_catalog
from schemas.registry import CURRENT
from tests.support.projectors import delete_topics
from tests.support.topics import read_from_start

pytestmark = [pytest.mark.kafka]


async def read_everything(settings: Settings, prefix: str, expected: int) -> list:
    """Every record of the prefixed topics, from the beginning, once `expected` have arrived."""
    partitions = [TopicPartition(spec.name, p) for spec in prefixed_catalog(prefix)
                  for p in range(spec.partitions)]  # fmt: skip
    return await read_from_start(settings, partitions, expected, wait_s=100, poll_ms=500)


async def test_every_record_lands_on_its_topic_keyed_by_subject(
    stack: Settings, unique: str, tmp_path: Path
) -> None:
    """Per topic, what Kafka holds equals the truth's stream counts; valid keys equal subjects."""
    prefix = f"sim.{unique}."
    config = SimConfig(seed=5, volunteers=400, days=20, until=dt.date(2025, 6, 30),
                       duplicates=0.02, invalid=0.01, reorder=True)  # fmt: skip
    simulation = simulate(config, topic_prefix=prefix)
    truth_path = tmp_path / "truth.json"
    try:
        outcome = await run(simulation, via=Via.KAFKA, settings=stack, topic_prefix=prefix,
                            truth_path=truth_path)  # fmt: skip
        stream = orjson.loads(truth_path.read_bytes())["stream"]
        records = await read_everything(stack, prefix, stream["total_records"])
    finally:
        await delete_topics(stack, prefix)
    assert outcome.delivery.accepted == len(records) == stream["total_records"]
    assert Counter(r.topic.removeprefix(prefix) for r in records) == stream["records_by_topic"]
    invalid, by_type, ids = Counter(), Counter(), set()
    for record in records:
        try:
            document = orjson.loads(record.value)
            spec = CURRENT[document["type"]]
            assert document["data"][spec.key_field]  # a schema violation may still parse
        except (orjson.JSONDecodeError, KeyError, TypeError, AssertionError):
            invalid[record.topic] += 1
            continue
        if "-x" in document["id"] or document["dataschema"] != spec.dataschema:
            invalid[record.topic] += 1
            continue
        assert record.topic == prefix + spec.topic.name
        assert record.key == document["subject"].encode()
        if document["type"] == "volunteer.registered":  # the simulator speaks as the platform
            assert document["data"]["email"]["enc"] == "aes-256-gcm"
        if document["id"] not in ids:
            ids.add(document["id"])
            by_type[document["type"]] += 1
    assert by_type == stream["events_by_type"]
    assert len(ids) == stream["unique_events"]
    assert {prefix + topic: n for topic, n in stream["invalid"].items()} == dict(invalid)
    assert set(invalid) == {prefix + t for t in ("tatawwu.organizations", "tatawwu.campaigns",
        "tatawwu.volunteers", "tatawwu.signups", "tatawwu.attendance")}  # fmt: skip
