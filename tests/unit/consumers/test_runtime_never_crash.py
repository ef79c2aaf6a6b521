"""Whatever decoding a record raises, the runtime makes it a dead letter and goes on."""

from __future__ import annotations

import orjson
import pytest
from aiokafka.structs import ConsumerRecord

from consumers import runtime
from consumers.runtime import batch
from producers.gateway import ingest
from producers.gateway.problems import Problem
from schemas.examples import example


def record(value: bytes, offset: int, topic: str = "tatawwu.signups") -> ConsumerRecord:
    return ConsumerRecord(topic, 0, offset, 0, 0, b"k", value, None, 1, len(value), ())


def test_a_decoder_that_raises_makes_that_record_a_dead_letter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bug in decoding one record costs that record only, never the batch or the loop."""
    good = orjson.dumps(example("volunteer.signed_up"))
    real = batch.decode_record

    def flaky(raw: bytes, headers):  # type: ignore[no-untyped-def]
        if raw == b"boom":
            raise OverflowError("date value out of range")
        return real(raw, headers)

    monkeypatch.setattr(batch, "decode_record", flaky)
    decoded, dead = runtime.decode_batch([record(good, 0), record(b"boom", 1), record(good, 2)])
    assert [r.offset for r, _ in decoded] == [0, 2]
    assert [(d.record.offset, d.reason) for d in dead] == [(1, "undecodable")]
    assert "out of range" not in dead[0].detail  # no value or message from the input


def test_a_record_on_the_wrong_topic_is_a_dead_letter_naming_no_value() -> None:
    """A registration on the sign-ups topic is refused with its reason."""
    value = orjson.dumps(example("volunteer.registered"))
    decoded, dead = runtime.decode_batch([record(value, 0)])
    assert decoded == []
    assert [d.reason for d in dead] == ["wrong_topic"]


def test_the_gateway_answers_422_when_decoding_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decoder bug is the partner's 422 problem, never a 500."""

    def broken(body: bytes, limit: int):  # type: ignore[no-untyped-def]
        raise OverflowError("date value out of range")

    monkeypatch.setattr(ingest, "_parse_events", broken)
    with pytest.raises(Problem) as raised:
        ingest.parse_events(b"{}", 10)
    assert raised.value.status == 422
