"""The SMS sink's batch endpoint: one result per message, idempotency keys per message."""

from __future__ import annotations

import httpx

from infra.local.sink_files import SMS_REPEATS_FILE, read_repeats
from infra.local.sinks import Sinks, read_sms

MESSAGE = {"to": "+97455551234", "body": "مرحباً عائشة، تم تأكيد تسجيلك.", "sender": "Tatawwu"}


def batch(*keys: str | None) -> dict[str, object]:
    return {"messages": [{**MESSAGE, "idempotency_key": k} for k in keys]}


async def test_each_message_of_a_batch_is_answered_and_stored_on_its_own(
    sinks: Sinks, sms: httpx.AsyncClient
) -> None:
    """200 with a result per message, in order; one stored line per accepted message."""
    response = await sms.post("/v1/messages/batch", json=batch("k-1", "k-2", None))

    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["index"], r["idempotency_key"], r["status"], r["code"]) for r in results] == [
        (0, "k-1", "accepted", 202), (1, "k-2", "accepted", 202), (2, None, "accepted", 202),
    ]  # fmt: skip
    stored = read_sms(sinks.directory)
    assert [s["id"] for s in stored] == [r["id"] for r in results]
    assert [s["idempotency_key"] for s in stored] == ["k-1", "k-2", None]
    assert (await sms.get("/stats")).json()["batches"] == 1


async def test_a_key_seen_before_is_a_duplicate_within_a_batch_and_across_endpoints(
    sinks: Sinks, sms: httpx.AsyncClient
) -> None:
    """A key already taken (by the single endpoint, an earlier batch or earlier in this one)
    answers duplicate with the first id and is stored once; the others go through."""
    single = await sms.post("/v1/messages", json=MESSAGE, headers={"Idempotency-Key": "k-1"})
    first = (await sms.post("/v1/messages/batch", json=batch("k-2", "k-2"))).json()["results"]
    again = (await sms.post("/v1/messages/batch", json=batch("k-1", "k-2", "k-3"))).json()

    assert [r["status"] for r in first] == ["accepted", "duplicate"]
    assert first[1]["id"] == first[0]["id"]
    results = again["results"]
    assert [(r["status"], r["code"]) for r in results] == [
        ("duplicate", 200), ("duplicate", 200), ("accepted", 202),
    ]  # fmt: skip
    assert results[0]["id"] == single.json()["id"]
    assert results[1]["id"] == first[0]["id"]
    assert sorted(s["idempotency_key"] for s in read_sms(sinks.directory)) == ["k-1", "k-2", "k-3"]
    repeats = [r["idempotency_key"] for r in read_repeats(sinks.directory, SMS_REPEATS_FILE)]
    assert repeats == ["k-2", "k-1", "k-2"]
    # ...and the single endpoint knows the keys a batch took.
    repeat = await sms.post("/v1/messages", json=MESSAGE, headers={"Idempotency-Key": "k-3"})
    assert repeat.json() == {"id": results[2]["id"], "status": "duplicate"}


async def test_a_bad_message_is_rejected_alone_and_injected_failures_count_messages(
    sinks: Sinks, sms: httpx.AsyncClient
) -> None:
    """An invalid message gets 422 with its fields; `/control/fail` count 2 fails the next
    two messages (not requests), then they are accepted; nothing failed is stored."""
    await sms.post("/control/fail", json={"count": 2, "status": 503})
    messages = [{**MESSAGE, "idempotency_key": f"k-{n}"} for n in range(4)]
    messages.insert(1, {"to": "55551234", "body": " ", "idempotency_key": "bad"})
    messages.append("not an object")
    response = await sms.post("/v1/messages/batch", json={"messages": messages})

    results = response.json()["results"]
    assert [(r["status"], r["code"]) for r in results] == [
        ("failed", 503), ("rejected", 422), ("failed", 503), ("accepted", 202),
        ("accepted", 202), ("rejected", 422),
    ]  # fmt: skip
    assert {e["field"] for e in results[1]["errors"]} == {"to", "body"}
    assert [s["idempotency_key"] for s in read_sms(sinks.directory)] == ["k-2", "k-3"]
    # A failed message's key was not taken: its retry goes through.
    retry = await sms.post("/v1/messages/batch", json=batch("k-0", "k-1"))
    assert [r["status"] for r in retry.json()["results"]] == ["accepted", "accepted"]
    stats = (await sms.get("/stats")).json()
    assert (stats["failed"], stats["rejected"], stats["accepted"]) == (2, 2, 4)


async def test_a_malformed_batch_is_refused_whole_and_stores_nothing(
    sinks: Sinks, sms: httpx.AsyncClient
) -> None:
    """Not JSON, no list, an empty or an oversized list: 422 naming why; nothing stored."""
    cases = [
        ("$", await sms.post("/v1/messages/batch", content=b"{not json")),
        ("$", await sms.post("/v1/messages/batch", json=[MESSAGE])),
        ("messages", await sms.post("/v1/messages/batch", json={"messages": []})),
        ("messages", await sms.post("/v1/messages/batch", json={"messages": [MESSAGE] * 1001})),
    ]
    for field, response in cases:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert field in {e["field"] for e in response.json()["errors"]}, response.text
    assert read_sms(sinks.directory) == []
