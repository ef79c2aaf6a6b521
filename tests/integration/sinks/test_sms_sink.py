"""The SMS sink: accepts and records, deduplicates by Idempotency-Key, validates, fails on request."""

from __future__ import annotations

import httpx
from structlog.testing import capture_logs

from infra.local.sinks import Sinks, read_sms

MESSAGE = {"to": "+97455551234", "body": "مرحباً عائشة، تم تأكيد تسجيلك.", "sender": "Tatawwu"}


async def test_an_accepted_sms_is_recorded(sinks: Sinks, sms: httpx.AsyncClient) -> None:
    """202 with a sink id; the line in sms.jsonl carries that id and the request as sent."""
    response = await sms.post("/v1/messages", json=MESSAGE, headers={"Idempotency-Key": "k-1"})

    assert response.status_code == 202
    assert response.json()["status"] == "accepted"
    [stored] = read_sms(sinks.directory)
    assert stored["id"] == response.json()["id"]
    assert (stored["to"], stored["body"], stored["sender"]) == (
        MESSAGE["to"], MESSAGE["body"], MESSAGE["sender"],
    )  # fmt: skip
    assert stored["idempotency_key"] == "k-1"
    assert (await sms.get("/v1/messages")).json() == [stored]


async def test_the_same_idempotency_key_twice_is_recorded_once(
    sinks: Sinks, sms: httpx.AsyncClient
) -> None:
    """The retry gets 200, the same id and status duplicate; one line; stats count it."""
    headers = {"Idempotency-Key": "notif-7"}
    first = await sms.post("/v1/messages", json=MESSAGE, headers=headers)
    again = await sms.post("/v1/messages", json=MESSAGE, headers=headers)

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    assert [line["id"] for line in read_sms(sinks.directory)] == [first.json()["id"]]
    stats = (await sms.get("/stats")).json()
    assert (stats["accepted"], stats["duplicates"]) == (1, 1)


async def test_without_a_key_every_request_is_a_new_message(
    sinks: Sinks, sms: httpx.AsyncClient
) -> None:
    """No Idempotency-Key: nothing to deduplicate on, two distinct records."""
    first = await sms.post("/v1/messages", json=MESSAGE)
    second = await sms.post("/v1/messages", json=MESSAGE)

    assert first.status_code == second.status_code == 202
    assert first.json()["id"] != second.json()["id"]
    assert len(read_sms(sinks.directory)) == 2


async def test_an_invalid_number_is_a_422_naming_the_field(
    sinks: Sinks, sms: httpx.AsyncClient
) -> None:
    """`to` not in E.164: a problem document whose errors name `to`; nothing recorded."""
    response = await sms.post("/v1/messages", json={**MESSAGE, "to": "55551234"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert [e["field"] for e in problem["errors"]] == ["to"]
    assert "to" in problem["detail"]
    assert read_sms(sinks.directory) == []


async def test_an_empty_or_too_long_body_is_a_422_naming_body(sms: httpx.AsyncClient) -> None:
    """Blank and over-1600-character bodies are refused, each naming `body`."""
    for body in ("", "   ", "x" * 1601):
        response = await sms.post("/v1/messages", json={**MESSAGE, "body": body})
        assert response.status_code == 422, body
        assert [e["field"] for e in response.json()["errors"]] == ["body"]
    ok = await sms.post("/v1/messages", json={**MESSAGE, "body": "x" * 1600})
    assert ok.status_code == 202


async def test_injected_failures_fail_the_next_n_then_it_succeeds(
    sinks: Sinks, sms: httpx.AsyncClient
) -> None:
    """`/control/fail` count 2 status 503: two 503s (not recorded), then 202 again."""
    armed = await sms.post("/control/fail", json={"count": 2, "status": 503})
    assert armed.status_code == 200

    statuses = [(await sms.post("/v1/messages", json=MESSAGE)).status_code for _ in range(3)]

    assert statuses == [503, 503, 202]
    assert len(read_sms(sinks.directory)) == 1
    assert (await sms.get("/stats")).json()["failed"] == 2


async def test_reset_clears_injected_failures(sinks: Sinks, sms: httpx.AsyncClient) -> None:
    """Armed for 5 failures with 429, reset after one: the next request succeeds."""
    await sms.post("/control/fail", json={"count": 5, "status": 429})
    failed = await sms.post("/v1/messages", json=MESSAGE)
    await sms.post("/control/reset")
    succeeded = await sms.post("/v1/messages", json=MESSAGE)

    assert failed.status_code == 429
    assert failed.headers["retry-after"] == "1"
    assert succeeded.status_code == 202
    assert len(read_sms(sinks.directory)) == 1


async def test_a_restarted_sink_still_knows_the_keys_it_accepted(sinks: Sinks) -> None:
    """Keys are reloaded from sms.jsonl: a retry after a sink restart is still a duplicate."""
    async with httpx.AsyncClient(timeout=5.0) as client:
        first = await client.post(sinks.sms_url, json=MESSAGE, headers={"Idempotency-Key": "r"})
        async with Sinks(sinks.directory, smtp_port=0, sms_port=0) as restarted:
            again = await client.post(
                restarted.sms_url, json=MESSAGE, headers={"Idempotency-Key": "r"}
            )

    assert again.json() == {"id": first.json()["id"], "status": "duplicate"}
    assert len(read_sms(sinks.directory)) == 1


async def test_health_answers_and_logs_carry_no_personal_data(sms: httpx.AsyncClient) -> None:
    """The log events for accepted and refused messages hold neither the number nor the text."""
    with capture_logs() as logs:
        await sms.post("/v1/messages", json=MESSAGE)
        await sms.post("/v1/messages", json={**MESSAGE, "to": "+97"})

    assert (await sms.get("/health")).json() == {"status": "ok"}
    assert [e["event"] for e in logs] == ["sms_accepted", "sms_rejected"]
    assert "55551234" not in repr(logs)
    assert "عائشة" not in repr(logs)
