"""Dead-letter records: their headers are a contract; the Kafka send is one small seam."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.structs import ConsumerRecord

from consumers.runtime.batch import Dead
from consumers.runtime.deadletters import (
    dead_letter_record,
    reasons_of,
    send_dead_letters,
)


def record(offset: int, headers: tuple[tuple[str, bytes], ...] = ()) -> ConsumerRecord:
    return ConsumerRecord(
        "tatawwu.signups", 3, offset, 0, 0, b"vol-1", b"{bad", None, 5, 4, headers
    )


def test_a_dead_letter_keeps_the_original_bytes_and_names_its_origin() -> None:
    """Key and value unchanged; headers: projector, error, detail, original position."""
    letter = dead_letter_record("campaigns", Dead(record(41), "invalid_json", "not JSON"))
    assert (letter.key, letter.value) == (b"vol-1", b"{bad")
    assert letter.headers == [
        ("projector", b"campaigns"),
        ("error", b"invalid_json"),
        ("error_detail", b"not JSON"),
        ("original_topic", b"tatawwu.signups"),
        ("original_partition", b"3"),
        ("original_offset", b"41"),
    ]


def test_a_dead_letter_carries_the_requests_correlation_id_and_a_bounded_detail() -> None:
    """The correlation id travels on; a long detail is cut to 1,000 characters."""
    dead = Dead(record(0, (("correlation_id", b"req-9"),)), "apply_failed", "x" * 5000)
    headers = dict(dead_letter_record("volunteers", dead).headers)
    assert headers["correlation_id"] == b"req-9"
    assert len(headers["error_detail"]) == 1000


class FakeProducer:
    """Records sends; acknowledges each once awaited."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any, Any]] = []
        self.acked = 0

    async def send(self, topic: str, value: Any, *, key: Any, headers: Any) -> asyncio.Future:
        self.sent.append((topic, key, value, headers))
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        future.set_result(None)
        future.add_done_callback(lambda _: setattr(self, "acked", self.acked + 1))
        return future


async def test_every_dead_letter_is_sent_to_the_topic_and_acknowledged() -> None:
    """The send seam sends each letter with its key and headers, and waits for all acks."""
    producer = FakeProducer()
    letters = [dead_letter_record("p", Dead(record(o), "wrong_topic", "d")) for o in (1, 2)]
    await send_dead_letters(producer, "x.tatawwu.deadletter", letters)
    assert [(t, k, h[-1]) for t, k, _, h in producer.sent] == [
        ("x.tatawwu.deadletter", b"vol-1", ("original_offset", b"1")),
        ("x.tatawwu.deadletter", b"vol-1", ("original_offset", b"2")),
    ]
    assert producer.acked == 2


def test_reasons_are_counted_for_the_one_warning_per_batch() -> None:
    """One log line per batch names how many records died of each reason."""
    dead = [Dead(record(o), r, "") for o, r in ((1, "a"), (2, "b"), (3, "a"))]
    assert reasons_of(dead) == {"a": 2, "b": 1}
