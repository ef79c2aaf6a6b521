"""The router's pure part: records decoded and grouped by organisation, then the outcome.

`decode_batch` reads a fetched batch: each record's organisation (from its ingress topic)
and its event, or why it cannot be one. The entry point's admission judges the events
(`infra.admission.Admission.admit_each`, I/O); `outcome` then turns the verdicts into
what the transaction sends: accepted events as the records the gateway would write
(`infra.bus.Forwarded`, carrying the ingress record's trace headers), refused records as
dead letters in the runtime's format (projector header `router`, error = the rule,
error_detail = its message, which quotes no value), and one tally per record so the
counts can skip records counted before (`Tally`).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from aiokafka import TopicPartition

from consumers.runtime.batch import Dead, Record
from consumers.runtime.deadletters import dead_letter_record
from consumers.runtime.records import entered
from infra.bus import Forwarded, Outgoing
from infra.tracing import TRACE_HEADERS
from schemas.admission import Refusal
from schemas.binding import decode_record
from schemas.envelope import Event
from schemas.errors import DecodeError
from schemas.topics import DEADLETTER, org_of_ingress

NAME = "router"  # the dead letters' `projector` header, the metrics' and logs' name
ACCEPTED = "accepted"
REFUSED = "refused"


@dataclass(slots=True)
class OrgBatch:
    """One organisation's decoded records of a batch, in offset order."""

    org: str
    records: list[Record] = field(default_factory=list)
    events: list[Event[Any]] = field(default_factory=list)
    entered: list[dt.datetime] = field(default_factory=list)


@dataclass(slots=True)
class Decoded:
    """A batch read: the events by organisation, and the records that are no event."""

    by_org: dict[str, OrgBatch] = field(default_factory=dict)
    dead: list[tuple[str, Dead]] = field(default_factory=list)  # (org, why)


class Tally(NamedTuple):
    """One record's outcome, for the counts: where it sits, whose it is, what happened."""

    topic: str
    partition: int
    offset: int
    org: str
    outcome: str  # ACCEPTED or REFUSED
    rule: str  # "" when accepted


@dataclass(slots=True)
class Outcome:
    """What one batch's transaction sends and commits."""

    sends: list[Forwarded | Outgoing] = field(default_factory=list)
    tallies: list[Tally] = field(default_factory=list)
    dead: list[Dead] = field(default_factory=list)  # also listed by `tatawwu dlq list`
    offsets: dict[TopicPartition, int] = field(default_factory=dict)  # next offset to read
    timings: dict[str, float] = field(default_factory=dict)  # seconds per step (the log line)

    def counts(self) -> dict[tuple[str, str, str], int]:
        """Records per (org, outcome, rule)."""
        found: dict[tuple[str, str, str], int] = defaultdict(int)
        for t in self.tallies:
            found[(t.org, t.outcome, t.rule)] += 1
        return dict(found)


def decode_batch(records: Sequence[Record], topic_prefix: str = "") -> Decoded:
    """Each record's organisation and event, or the dead letter it becomes. Never raises."""
    decoded = Decoded()
    orgs: dict[str, str | None] = {}
    stamp, when = None, dt.datetime.now(dt.UTC)
    for record in records:
        topic = record.topic
        if topic in orgs:
            org = orgs[topic]
        else:
            org = orgs[topic] = org_of_ingress(topic, topic_prefix)
        if org is None:  # the subscription's pattern is looser than the topic names
            detail = "the record is not on an ingress topic"
            decoded.dead.append(("", Dead(record, "not_ingress", detail)))
            continue
        try:
            result = decode_record(record.value, record.headers)
        except Exception as exc:
            detail = f"decoding raised {type(exc).__name__} (a decoder bug; the record is kept)"
            decoded.dead.append((org, Dead(record, "undecodable", detail)))
            continue
        if isinstance(result, DecodeError):
            dead = Dead(record, str(result.reason), result.summary(), result.event_id,
                        result.event_type)  # fmt: skip
            decoded.dead.append((org, dead))
            continue
        batch = decoded.by_org.get(org)
        if batch is None:
            batch = decoded.by_org[org] = OrgBatch(org)
        batch.records.append(record)
        batch.events.append(result)
        # A producer batch's records share the broker's append time: one datetime for all.
        if record.timestamp != stamp:
            stamp, when = record.timestamp, entered(record)
        batch.entered.append(when)
    return decoded


def trace_of(record: Record) -> list[tuple[str, bytes]]:
    """The W3C trace headers a record arrived with (carried onto the forwarded record)."""
    if not record.headers:
        return []
    return [(n, bytes(v)) for n, v in record.headers or () if n.lower() in TRACE_HEADERS]


def _letter(dead: Dead, topic: str) -> Outgoing:
    letter = dead_letter_record(NAME, dead)
    return Outgoing(topic, letter.key, letter.value, letter.headers, content_type=None)


def outcome(
    records: Sequence[Record],
    decoded: Decoded,
    refusals: dict[str, list[Refusal]],
    topic_prefix: str = "",
) -> Outcome:
    """The sends, tallies and next offsets of a batch, once each organisation was judged."""
    out = Outcome()
    deadletters = topic_prefix + DEADLETTER.name
    ends: dict[tuple[str, int], int] = {}
    for record in records:  # in offset order per partition, as fetched
        ends[(record.topic, record.partition)] = record.offset + 1
    out.offsets = {TopicPartition(*where): end for where, end in ends.items()}
    for org, dead in decoded.dead:
        out.dead.append(dead)
        out.sends.append(_letter(dead, deadletters))
        r = dead.record
        out.tallies.append(Tally(r.topic, r.partition, r.offset, org, REFUSED, dead.reason))
    for org, batch in decoded.by_org.items():
        refused = {r.index: r for r in refusals.get(org, ())}
        sends, tallies = out.sends, out.tallies
        for index, (record, event) in enumerate(zip(batch.records, batch.events, strict=True)):
            if (refusal := refused.get(index)) is None:
                trace = trace_of(record) if record.headers else ()
                sends.append(Forwarded(event, trace, topic_prefix))
                tallies.append(Tally(record.topic, record.partition, record.offset, org,
                                     ACCEPTED, ""))  # fmt: skip
            else:
                dead = Dead(record, refusal.rule, refusal.message, event.id, event.type)
                out.dead.append(dead)
                out.sends.append(_letter(dead, deadletters))
                where = (record.topic, record.partition, record.offset)
                out.tallies.append(Tally(*where, org, REFUSED, refusal.rule))
    return out
