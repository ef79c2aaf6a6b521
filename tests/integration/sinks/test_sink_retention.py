"""The sinks forget what they received after the retention; a purge while they run loses nothing."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from urllib.parse import quote

import aiosmtplib
import httpx
import typer
from typer.testing import CliRunner

from infra.local.sink_files import SMS_FILE, SMTP_FILE, append_record, purge_before
from infra.local.sinks import Sinks, purge_periodically, read_sms, read_smtp
from tatawwu.cli_sinks import sinks_app

OLD = {"to": "+97455550001", "body": "old text", "sender": "Tatawwu", "id": "old-sms"}


def back_dated(sinks: Sinks, days: float) -> None:
    """One SMS and one email as if received `days` ago (the sinks' own format)."""
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    append_record(sinks.directory / SMS_FILE, {**OLD, "received_at": when})
    append_record(sinks.directory / SMTP_FILE, {"to": ["old@example.qa"], "received_at": when,
                                                "message_id": "<old@tatawwu>"})  # fmt: skip


async def send_email(sinks: Sinks, n: int) -> None:
    message = EmailMessage()
    message["From"], message["To"] = "no-reply@tatawwu.example", f"new{n}@example.qa"
    message["Subject"], message["Message-ID"] = "hello", f"<new-{n}@tatawwu>"
    message.set_content("recent text")
    await aiosmtplib.send(message, hostname=sinks.host, port=sinks.smtp_port)


async def test_messages_older_than_the_retention_are_forgotten_recent_ones_kept(
    sinks: Sinks,
) -> None:
    """Back-dated records go; records received now stay; a second purge removes nothing."""
    back_dated(sinks, 8)
    async with httpx.AsyncClient(base_url=sinks.sms_base_url) as sms:
        response = await sms.post("/v1/messages", json={k: OLD[k] for k in ("to", "sender")}
                                  | {"body": "recent"}, headers={"Idempotency-Key": "r-1"})  # fmt: skip
        assert response.status_code == 202
    await send_email(sinks, 1)
    removed = purge_before(sinks.directory, datetime.now(UTC) - timedelta(days=7))
    assert (removed[SMS_FILE], removed[SMTP_FILE]) == (1, 1)
    assert [m["body"] for m in read_sms(sinks.directory)] == ["recent"]
    assert [m["message_id"] for m in read_smtp(sinks.directory)] == ["<new-1@tatawwu>"]
    again = purge_before(sinks.directory, datetime.now(UTC) - timedelta(days=7))
    assert not any(again.values())


async def test_a_purge_running_beside_the_sinks_loses_no_message(sinks: Sinks) -> None:
    """A purge repeated in another thread while 200 SMS arrive: all 200 are kept."""
    back_dated(sinks, 30)
    done = threading.Event()

    def purge_until_done() -> None:
        while not done.is_set():
            purge_before(sinks.directory, datetime.now(UTC) - timedelta(days=7))

    purger = threading.Thread(target=purge_until_done)
    purger.start()
    try:
        async with httpx.AsyncClient(base_url=sinks.sms_base_url) as sms:
            sends = [sms.post("/v1/messages", json={"to": OLD["to"], "body": f"m{n}",
                                                    "sender": "Tatawwu"},
                              headers={"Idempotency-Key": f"k-{n}"}) for n in range(200)]  # fmt: skip
            assert {r.status_code for r in await asyncio.gather(*sends)} == {202}
    finally:
        done.set()
        purger.join()
    kept = read_sms(sinks.directory)
    assert sorted(m["body"] for m in kept) == sorted(f"m{n}" for n in range(200))


async def test_the_running_sinks_purge_periodically_and_stop(sinks: Sinks) -> None:
    """`purge_periodically` (what `tatawwu sinks run` runs) purges at start and returns
    once stopped."""
    back_dated(sinks, 8)
    stop = asyncio.Event()
    task = asyncio.create_task(purge_periodically(sinks.directory, 7, 3600, stop))
    for _ in range(100):
        if not read_sms(sinks.directory):
            break
        await asyncio.sleep(0.02)
    assert read_sms(sinks.directory) == []
    stop.set()
    await asyncio.wait_for(task, 5)


async def test_the_purge_command(sinks: Sinks) -> None:
    """`tatawwu sinks purge --dir D --older-than-days N`, and its --help."""
    back_dated(sinks, 3)
    app = typer.Typer()
    app.add_typer(sinks_app, name="sinks")
    runner = CliRunner()
    shown = runner.invoke(app, ["sinks", "purge", "--help"])
    assert shown.exit_code == 0
    assert "--older-than-days" in shown.output
    args = ["sinks", "purge", "--dir", str(sinks.directory), "--older-than-days"]
    kept = runner.invoke(app, [*args, "7"])
    assert "purged 0 record(s)" in kept.output, kept.output
    gone = runner.invoke(app, [*args, "2"])
    assert "purged 2 record(s)" in gone.output, gone.output
    assert read_sms(sinks.directory) == []


async def test_a_provider_deletes_one_kept_message_on_request_and_nothing_else(
    sinks: Sinks,
) -> None:
    """`DELETE /v1/messages/{id}` and `/v1/emails/{Message-ID}` (an erased volunteer's
    messages, asked by the notifier) remove that message only; an unknown id is a 404,
    and an injected failure removes nothing."""
    await send_email(sinks, 1)
    await send_email(sinks, 2)
    async with httpx.AsyncClient(base_url=sinks.sms_base_url) as client:
        ids = []
        for n in (1, 2):
            sent = await client.post("/v1/messages", json={"to": f"+9745555000{n}", "body": "hi"})
            ids.append(sent.json()["id"])
        sinks.sms_state.fail_remaining, sinks.sms_state.fail_status = 1, 503
        assert (await client.delete(f"/v1/messages/{ids[0]}")).status_code == 503
        assert len(read_sms(sinks.directory)) == 2
        assert (await client.delete(f"/v1/messages/{ids[0]}")).json() == {"removed": 1}
        assert (await client.delete(f"/v1/messages/{ids[0]}")).status_code == 404
        email = await client.delete("/v1/emails/" + quote("<new-1@tatawwu>", safe=""))
        assert email.json() == {"removed": 1}
        assert (await client.delete("/v1/emails/%3Cnobody%40tatawwu%3E")).status_code == 404
    assert [m["id"] for m in read_sms(sinks.directory)] == [ids[1]]
    assert [m["message_id"] for m in read_smtp(sinks.directory)] == ["<new-2@tatawwu>"]
