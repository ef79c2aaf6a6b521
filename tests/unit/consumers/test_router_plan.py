"""The router's pure part: records decoded by organisation, judged one by one, the outcome."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from consumers.router.plan import ACCEPTED, REFUSED, decode_batch, outcome
from infra.bus import Forwarded, Outgoing
from schemas.admission import Organisation, judge_each
from schemas.ownership import Kind, TimeBounds
from tests.support.router import partner_event

PREFIX = "t1."
ORG, OTHER = "org-a", "org-b"
T0 = 1_780_000_000_000  # ms: the broker's append time
TRACE = b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
BOUNDS = TimeBounds()


def record(value: bytes, offset: int, org: str = ORG, headers: tuple[Any, ...] = ()) -> Any:
    topic = f"{PREFIX}tatawwu.ingress.{org}"
    return ConsumerRecord(topic, 0, offset, T0, 1, b"k", value, None, 1, len(value), headers)


def doc(event_type: str, n: int = 0, org: str = ORG, **fields: Any) -> bytes:
    return orjson.dumps(partner_event(org, event_type, n, "u", **fields))


def judged(records: list[Any]) -> Any:
    decoded = decode_batch(records, PREFIX)
    refusals = {
        org: judge_each(Organisation(org), b.events, {}, b.entered, BOUNDS)[0]
        for org, b in decoded.by_org.items()
    }
    return outcome(records, decoded, refusals, PREFIX)


def test_records_are_grouped_by_the_organisation_their_topic_belongs_to() -> None:
    """The org comes from the topic, the entry time from the broker's timestamp."""
    decoded = decode_batch([record(doc("campaign.launched"), 0),
                            record(doc("campaign.launched", org=OTHER), 0, OTHER)], PREFIX)  # fmt: skip
    assert sorted(decoded.by_org) == [ORG, OTHER]
    assert decoded.by_org[ORG].entered == [dt.datetime.fromtimestamp(T0 / 1000, dt.UTC)]
    assert decoded.dead == []


def test_bytes_that_are_no_event_become_dead_letters_with_the_decode_reason() -> None:
    """Invalid JSON and a schema error: dead letters; nothing raised."""
    broken = partner_event(ORG, "volunteer.registered", 0, "u")
    del broken["data"]["volunteer_id"]
    decoded = decode_batch([record(b"{nope", 0), record(orjson.dumps(broken), 1)], PREFIX)
    assert [d.reason for _, d in decoded.dead] == ["invalid_json", "invalid_event"]
    assert decoded.by_org == {}


def test_accepted_events_are_forwarded_with_the_ingress_trace_and_refused_ones_dead_lettered() -> (
    None
):
    """A launch is forwarded (its trace carried); a sign-up to an unknown opportunity and
    a foreign source are dead letters naming the rule, the router and the origin."""
    records = [
        record(doc("campaign.launched"), 5, headers=(("traceparent", TRACE),)),
        record(doc("volunteer.signed_up", 1), 6),
        record(doc("volunteer.registered", 2) .replace(b"partner/org-a", b"partner/org-b"), 7),
    ]  # fmt: skip
    out = judged(records)
    forwarded = [s for s in out.sends if isinstance(s, Forwarded)]
    letters = [s for s in out.sends if isinstance(s, Outgoing)]
    assert [f.event.type for f in forwarded] == ["campaign.launched"]
    assert forwarded[0].trace == [("traceparent", TRACE)]
    assert forwarded[0].topic_prefix == PREFIX
    heads = [dict(letter.headers) for letter in letters]
    assert {letter.topic for letter in letters} == {f"{PREFIX}tatawwu.deadletter"}
    assert [(h["projector"], h["error"], h["original_offset"]) for h in heads] == [
        (b"router", b"unknown_opportunity", b"6"),
        (b"router", b"source", b"7"),
    ]
    assert out.offsets == {TopicPartition(f"{PREFIX}tatawwu.ingress.{ORG}", 0): 8}
    assert out.counts() == {(ORG, ACCEPTED, ""): 1, (ORG, REFUSED, "unknown_opportunity"): 1,
                            (ORG, REFUSED, "source"): 1}  # fmt: skip


def test_each_record_is_judged_on_its_own_and_a_refused_one_claims_nothing() -> None:
    """A foreign-source launch is refused without claiming its campaign; the org's own
    publication and sign-up pass together, whatever their order in the batch."""
    events = [
        partner_event(ORG, "campaign.launched", 0, "u"),
        partner_event(ORG, "volunteer.signed_up", 0, "u"),
        partner_event(ORG, "opportunity.published", 0, "u"),
        partner_event(ORG, "campaign.launched", 1, "u", campaign_id="cmp-x")
        | {"source": f"partner/{OTHER}"},
    ]
    decoded = decode_batch([record(orjson.dumps(e), n) for n, e in enumerate(events)], PREFIX)
    batch = decoded.by_org[ORG]
    refused, claims = judge_each(Organisation(ORG), batch.events, {}, batch.entered, BOUNDS)
    assert [(r.index, r.rule) for r in refused] == [(3, "source")]
    assert claims == {(Kind.CAMPAIGN, f"cmp-{ORG}"): ORG,
                      (Kind.OPPORTUNITY, f"opp-{ORG}"): f"cmp-{ORG}"}  # fmt: skip
