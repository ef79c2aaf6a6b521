"""The gateway and file senders, against a fake gateway and a temporary file."""

from __future__ import annotations

from pathlib import Path

import httpx
import orjson

from producers.simulator import Simulation
from producers.simulator.sinks import GATEWAY_BATCH, send_to_gateway, write_file


async def test_gateway_sender_batches_valid_events_and_posts_invalid_ones_alone(
    sim: Simulation,
) -> None:
    """Valid events go in arrays of at most 500; each invalid record alone; 429 is retried."""
    accepted_sizes: list[int] = []
    refused: list[bytes] = []
    throttled = [True]

    def gateway(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tw_test"
        if throttled.pop() if throttled else False:
            return httpx.Response(429, headers={"Retry-After": "0"})
        try:
            batch = orjson.loads(request.content)
        except orjson.JSONDecodeError:
            batch = None
        if not isinstance(batch, list) or any("-x" in e["id"] for e in batch):
            refused.append(request.content)
            return httpx.Response(422, json={"title": "invalid"})
        accepted_sizes.append(len(batch))
        return httpx.Response(202, json={"accepted": [e["id"] for e in batch]})

    delivery = await send_to_gateway(
        "http://gateway.test/", "tw_test", sim.records, progress=lambda _n: None,
        transport=httpx.MockTransport(gateway),
    )  # fmt: skip
    invalid = sum(1 for r in sim.records if r.kind == "invalid")
    assert delivery.sent == len(sim.records)
    assert delivery.refused == invalid
    assert delivery.accepted == len(sim.records) - invalid
    assert max(accepted_sizes) <= GATEWAY_BATCH
    assert sum(accepted_sizes) == delivery.accepted
    assert len(refused) == invalid  # each alone: no valid event refused with it


async def test_file_sender_writes_one_record_per_line(sim: Simulation, tmp_path: Path) -> None:
    """`--via file` writes every record value, in send order, one per line."""
    out = tmp_path / "stream.jsonl"
    seen: list[int] = []
    delivery = await write_file(out, sim.records, progress=seen.append)
    lines = out.read_bytes().splitlines()
    assert lines == [record.value for record in sim.records]
    assert delivery.sent == sum(seen) == len(sim.records)
