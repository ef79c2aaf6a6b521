"""The runtime reads both CloudEvents content modes and names records' traces in its lines."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson
from aiokafka.structs import ConsumerRecord
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent

from consumers.notifications.rules import ledger_rows
from consumers.runtime.batch import (
    TRACE_SCAN,
    TRACES_LOGGED,
    applying,
    applying_traces,
    decode,
    decode_batch,
    group,
    trace_fields,
    trace_ids,
)
from schemas.binding import decode_record
from schemas.decode import decode_event
from schemas.examples import example

SIGNUPS = "tatawwu.signups"


def traceparent(n: int) -> bytes:
    return f"00-{n:032x}-00f067aa0ba902b7-01".encode()


def record(
    value: bytes, offset: int, headers: Any = (), topic: str = SIGNUPS
) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value), tuple(headers))


def signed_up(n: int = 0) -> bytes:
    document = example("volunteer.signed_up")
    return orjson.dumps({**document, "id": f"evt-{n}"})


def test_a_binary_record_from_the_sdk_decodes_in_a_batch_like_its_structured_twin() -> None:
    """`decode_batch` reads `ce_` headers: the same event as the structured record gives."""
    document = example("volunteer.signed_up")
    attributes = {k: v for k, v in document.items() if k != "data"}
    attributes["time"] = dt.datetime.fromisoformat(attributes["time"])
    event = CloudEvent({**attributes, "partitionkey": "p", "region": "doha"}, document["data"])
    binary = ce_kafka.to_binary_event(event)
    structured = ce_kafka.to_structured_event(event)
    good, dead = decode_batch([
        record(binary.value, 0, binary.headers.items()),
        record(structured.value, 1, structured.headers.items()),
    ])  # fmt: skip
    assert dead == []
    assert good[0][1] == good[1][1]
    assert good[0][1].extensions == {"partitionkey": "p", "region": "doha"}


def test_trace_ids_are_the_first_few_distinct_ones_in_order() -> None:
    """Repeats and malformed traceparents are skipped; at most TRACES_LOGGED are named."""
    headers = [[("traceparent", traceparent(n))] for n in (1, 1, 2)]
    headers += [[("traceparent", b"00-garbage")], []]
    headers += [[("content-type", b"x"), ("traceparent", traceparent(n))] for n in range(3, 20)]
    records = [record(signed_up(), i, h) for i, h in enumerate(headers)]
    assert trace_ids(records) == [f"{n:032x}" for n in (1, 2, 3, 4, 5)][:TRACES_LOGGED]


def test_trace_ids_look_at_a_bounded_number_of_records() -> None:
    """A trace first seen after TRACE_SCAN records is not looked for (the cost is bounded)."""
    records = [record(signed_up(), i) for i in range(TRACE_SCAN)]
    records.append(record(signed_up(), TRACE_SCAN, [("traceparent", traceparent(9))]))
    assert trace_ids(records) == []
    assert trace_ids(records[-1:]) == [f"{9:032x}"]


def test_a_lines_trace_id_is_its_first_records() -> None:
    """`trace_fields` names the first record's trace (None without one) and the first few."""
    first = record(signed_up(), 0)
    second = record(signed_up(), 1, [("traceparent", traceparent(7))])
    assert trace_fields([first, second]) == {"trace_id": None, "trace_ids": [f"{7:032x}"]}
    assert trace_fields([second])["trace_id"] == f"{7:032x}"


async def test_a_decoded_batch_carries_its_first_traces() -> None:
    """Read while decoding, for the summary line."""
    records = [record(signed_up(i), i, [("traceparent", traceparent(i + 1))]) for i in range(3)]
    batch = await decode(group(records))
    assert batch.traces == [f"{n:032x}" for n in (1, 2, 3)]


def test_while_applying_each_event_has_its_records_trace() -> None:
    """`applying_traces` answers per event inside `applying`, None outside or without one."""
    pairs = []
    for i, headers in enumerate([[("traceparent", traceparent(4))], []]):
        value = signed_up(i)
        pairs.append((record(value, i, headers), decode_event(value)))
    events = [event for _, event in pairs]
    with applying(pairs):
        assert applying_traces(events) == [f"{4:032x}", None]
    assert applying_traces(events) == [None, None]


def test_each_ledger_row_keeps_its_cause_trace() -> None:
    """The notifier's rows carry the trace of the event that called for them."""
    value = signed_up()
    event = decode_record(value, ())
    now = event.time  # type: ignore[union-attr]
    rows = ledger_rows([event], now, 48, [f"{5:032x}"])  # type: ignore[list-item]
    assert rows
    assert {row[7] for row in rows} == {f"{5:032x}"}
    assert {row[7] for row in ledger_rows([event], now, 48)} == {None}  # type: ignore[list-item]


def test_a_record_marked_structured_by_its_content_type_decodes_its_value() -> None:
    """The spec's rule first (the emit function's header): `ce_` headers are then ignored."""
    value = signed_up(1)
    marked = [("content-type", b"application/cloudevents+json"), ("ce_type", b"x.y")]
    assert decode_record(value, marked) == decode_event(value)
    # Without that mark, a `ce_` header means binary mode (the SDK's rule): the value is data.
    assert decode_record(value, marked[1:]) != decode_event(value)


def test_headers_given_as_a_one_shot_iterable_are_read_once() -> None:
    """A generator of headers decodes like the same headers in a list."""
    event = CloudEvent(
        {"id": "e-1", "source": "partner/org-1", "type": "volunteer.signed_up",
         "specversion": "1.0"}, {}
    )  # fmt: skip
    message = ce_kafka.to_binary_event(event)
    as_list = decode_record(message.value, list(message.headers.items()))
    assert decode_record(message.value, iter(message.headers.items())) == as_list
