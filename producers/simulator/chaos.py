"""From events to Kafka records, with the faults a real stream has: re-sends, bad records, disorder.

Duplicates re-send an event's exact bytes (same id) a little later; invalid records
(bad JSON, unknown types, schema violations) are derived from a real event and go to
its topic under its key; `reorder` shuffles windows of the stream, across topics and
within a key. All of it is drawn from the seed, so the same options give the same stream.
"""

from __future__ import annotations

import copy
import heapq
import random
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

from producers.simulator.events import TOPIC

REORDER_WINDOW = 500
DUPLICATE_DELAY = 2_000  # a re-send lands within this many records of the original
INVALID_KINDS = (
    "bad_json", "not_an_object", "unknown_type", "missing_field", "extra_field",
    "bad_time", "wrong_type", "unsupported_version",
)  # fmt: skip


class Record(NamedTuple):
    """One Kafka record to send; `kind` is "event", "duplicate" or "invalid"."""

    topic: str
    key: bytes
    value: bytes
    event_type: str
    kind: str


@dataclass
class StreamStats:
    """What the stream holds, for the summary and the truth file's `stream` section.

    Topics are named as in the catalog, without `--topic-prefix`, so that the truth of a
    seed does not depend on where its records were sent.
    """

    by_type: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    records_by_topic: Counter[str] = field(default_factory=Counter)
    invalid_by_topic: Counter[str] = field(default_factory=Counter)
    invalid_by_kind: Counter[str] = field(default_factory=Counter)

    @property
    def unique_events(self) -> int:
        return sum(self.by_type.values())

    @property
    def total_records(self) -> int:
        return self.unique_events + self.duplicates + sum(self.invalid_by_topic.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "events_by_type": dict(sorted(self.by_type.items())),
            "unique_events": self.unique_events,
            "duplicates": self.duplicates,
            "invalid": dict(sorted(self.invalid_by_topic.items())),
            "invalid_by_kind": dict(sorted(self.invalid_by_kind.items())),
            "records_by_topic": dict(sorted(self.records_by_topic.items())),
            "total_records": self.total_records,
        }


def build_records(
    events: list[dict[str, Any]],
    *,
    seed: int,
    duplicates: float = 0.0,
    invalid: float = 0.0,
    reorder: bool = False,
    topic_prefix: str = "",
) -> tuple[list[Record], StreamStats]:
    """The records to send, in send order, and what they contain."""
    rng = random.Random(f"{seed}-stream")
    stats = StreamStats()
    dumps = orjson.dumps
    placed: list[tuple[float, int, Record]] = []
    for i, event in enumerate(events):
        event_type = event["type"]
        stats.by_type[event_type] += 1
        topic = topic_prefix + TOPIC[event_type]
        placed.append(
            (i, 0, Record(topic, event["subject"].encode(), dumps(event), event_type, "event"))
        )
    n = len(events)
    for i in sorted(rng.sample(range(n), min(n, round(n * duplicates)))):
        original = placed[i][2]
        at = i + rng.randint(1, DUPLICATE_DELAY) + 0.5
        placed.append((at, 1, original._replace(kind="duplicate")))
        stats.duplicates += 1
    by_topic: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        by_topic.setdefault(TOPIC[event["type"]], []).append(i)
    topics = sorted(by_topic)
    for k in range(round(n * invalid) if n else 0):
        # Every topic gets its share, not just the busy ones, and every kind of fault.
        source = events[rng.choice(by_topic[topics[k % len(topics)]])]
        bad_kind = INVALID_KINDS[(k // len(topics)) % len(INVALID_KINDS)]
        topic = topic_prefix + TOPIC[source["type"]]
        value = _invalid_value(rng, source, bad_kind, f"{source['id'].rsplit('-', 1)[0]}-x{k + 1}")
        record = Record(topic, source["subject"].encode(), value, f"invalid:{bad_kind}", "invalid")
        placed.append((rng.uniform(0, n), 2, record))
        stats.invalid_by_topic[TOPIC[source["type"]]] += 1
        stats.invalid_by_kind[bad_kind] += 1
    for _pos, _order, record in placed:
        stats.records_by_topic[record.topic.removeprefix(topic_prefix)] += 1
    if len(placed) > n:  # originals are already in order
        placed.sort(key=lambda p: (p[0], p[1]))
    records = [p[2] for p in placed]
    if reorder:
        for start in range(0, len(records), REORDER_WINDOW):
            window = records[start : start + REORDER_WINDOW]
            rng.shuffle(window)
            records[start : start + REORDER_WINDOW] = window
    return records, stats


class StreamFaults:
    """The same faults as `build_records`, applied while events stream past, in bounded memory.

    Without the whole stream the choices are per event: each is re-sent with probability
    `duplicates` (within `DUPLICATE_DELAY` records), and followed by an invalid record with
    probability `invalid` (the k-th derived from the latest event of the k-th topic in
    turn, so every topic gets its share); `reorder` shuffles each window of records.
    Counts are therefore near, not exactly, the shares asked for; `stats` has them.
    """

    def __init__(self, *, seed: int, duplicates: float = 0.0, invalid: float = 0.0,
                 reorder: bool = False, topic_prefix: str = "") -> None:  # fmt: skip
        self.rng = random.Random(f"{seed}-stream")
        self.duplicates, self.invalid, self.reorder = duplicates, invalid, reorder
        self.prefix = topic_prefix
        self.stats = StreamStats()
        self.latest: dict[str, dict[str, Any]] = {}  # the last event seen on each topic
        self.delayed: list[tuple[int, int, Record]] = []  # heap: (due position, order, record)

    def records(self, events: Iterable[dict[str, Any]]) -> Iterator[Record]:
        """The records to send, in send order."""
        stream = self._faulty(events)
        if not self.reorder:
            yield from stream
            return
        window: list[Record] = []
        for record in stream:
            window.append(record)
            if len(window) == REORDER_WINDOW:
                self.rng.shuffle(window)
                yield from window
                window = []
        self.rng.shuffle(window)
        yield from window

    def _faulty(self, events: Iterable[dict[str, Any]]) -> Iterator[Record]:
        rng, stats, dumps, delayed = self.rng, self.stats, orjson.dumps, self.delayed
        order, topics = 0, sorted(set(TOPIC.values()) - {"tatawwu.notifications"})
        for i, event in enumerate(events):
            event_type, topic = event["type"], TOPIC[event["type"]]
            stats.by_type[event_type] += 1
            record = Record(self.prefix + topic, event["subject"].encode(), dumps(event),
                            event_type, "event")  # fmt: skip
            stats.records_by_topic[topic] += 1
            yield record
            self.latest[topic] = event
            if self.duplicates and rng.random() < self.duplicates:
                due = i + rng.randint(1, DUPLICATE_DELAY)
                heapq.heappush(delayed, (due, order, record._replace(kind="duplicate")))
                order += 1
                stats.duplicates += 1
            while delayed and delayed[0][0] <= i:
                yield self._count(heapq.heappop(delayed)[2])
            if self.invalid and rng.random() < self.invalid:
                yield self._count(self._invalid_record(topics))
        while delayed:
            yield self._count(heapq.heappop(delayed)[2])

    def _invalid_record(self, topics: list[str]) -> Record:
        k = sum(self.stats.invalid_by_kind.values())
        topic = topics[k % len(topics)]
        source = self.latest.get(topic) or next(reversed(self.latest.values()))
        topic = TOPIC[source["type"]]
        bad_kind = INVALID_KINDS[(k // len(topics)) % len(INVALID_KINDS)]
        value = _invalid_value(self.rng, source, bad_kind,
                               f"{source['id'].rsplit('-', 1)[0]}-x{k + 1}")  # fmt: skip
        self.stats.invalid_by_topic[topic] += 1
        self.stats.invalid_by_kind[bad_kind] += 1
        return Record(self.prefix + topic, source["subject"].encode(), value,
                      f"invalid:{bad_kind}", "invalid")  # fmt: skip

    def _count(self, record: Record) -> Record:
        self.stats.records_by_topic[record.topic.removeprefix(self.prefix)] += 1
        return record


def _invalid_value(rng: random.Random, source: dict[str, Any], kind: str, new_id: str) -> bytes:
    """A record that every consumer must refuse (and dead-letter) for the reason `kind`."""
    doc = copy.deepcopy(source)
    doc["id"] = new_id
    data = doc["data"]
    match kind:
        case "bad_json":
            raw = orjson.dumps(doc)
            return raw[: rng.randint(1, len(raw) - 2)]
        case "not_an_object":
            return orjson.dumps([doc])
        case "unknown_type":
            doc["type"] = doc["type"].split(".")[0] + ".teleported"
            doc.pop("dataschema")
        case "missing_field":
            data.pop(next(iter(data)))
        case "extra_field":
            data["shoe_size"] = 43
        case "bad_time":
            doc["time"] = "yesterday at noon"
        case "wrong_type":
            data[next(iter(data))] = 12345
        case "unsupported_version":
            doc["dataschema"] = doc["dataschema"].rsplit(":", 1)[0] + ":v99"
    return orjson.dumps(doc)
