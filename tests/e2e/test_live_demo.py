"""The live demo as `make demo` runs it: the platform with the trickle, on the real stack.

`platform run --sinks --trickle RATE` supervises the trickle beside the gateway, the
projectors, the notifier and the sinks. Its facts go through the gateway as its partner
organisations (accepted: nothing refused in its log), the read models move while a
browser watches the dashboard, a welcome email reaches the SMTP sink, and SIGINT (Ctrl-C)
stops every process, the trickle revoking its keys on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect

from infra.db import connect
from infra.local.sinks import read_smtp
from infra.settings import Settings
from producers.gateway.partners import list_partner_keys
from tests.support.ports import free_port
from tests.support.processes import end_group, stop_leftover_platforms

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres, pytest.mark.slow]
WAIT_S = 600.0  # the projectors may first catch up with whatever the stack's topics hold
LIVE_ORG = "live-nonprofit-1"


async def until(what: str, check: object, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not await check():  # type: ignore[operator]
        assert proc.poll() is None, f"the platform exited ({proc.returncode}) waiting for {what}"
        assert time.monotonic() < deadline, f"not within {WAIT_S:.0f}s: {what}"
        await asyncio.sleep(1.0)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def test_the_demo_trickle_moves_the_dashboard_and_notifies_and_ctrl_c_stops_it(
    stack: Settings, browser: Browser, unique: str, tmp_path: Path
) -> None:
    api_port, gateway_port = free_port(), free_port()
    smtp_port, sms_port = free_port(), free_port()
    # Metrics ports are fixed (9300-9309): on a loopback address of its own, this platform
    # cannot collide with another one running on the machine (Linux routes all of 127/8).
    metrics_host = f"127.0.{int(unique[:2], 16)}.{int(unique[2:4], 16) or 1}"
    env = {
        **os.environ, "TATAWWU_API_PORT": str(api_port),
        "TATAWWU_GATEWAY_PORT": str(gateway_port), "TATAWWU_METRICS_HOST": metrics_host,
        "TATAWWU_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "TATAWWU_SMS_URL": f"http://127.0.0.1:{sms_port}/v1/messages",
        "TATAWWU_EMAIL_API_URL": f"http://127.0.0.1:{sms_port}/v1/emails",
    }  # fmt: skip
    sinks = stack.cache_dir / "sinks"
    emails_before = len(read_smtp(sinks)) if (sinks / "smtp.jsonl").exists() else 0
    trickle_log = stack.cache_dir / "logs" / "trickle.log"
    mark = _size(trickle_log)
    out = tmp_path / "platform.out"
    await asyncio.to_thread(stop_leftover_platforms)  # one router-1, one notifier-1
    with out.open("wb") as sink:
        proc = subprocess.Popen(  # noqa: ASYNC220 - the platform runs for the whole test
            [sys.executable, "-m", "tatawwu", "platform", "run", "--sinks", "--trickle", "8"],
            stdout=sink, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
    conn = await connect(stack)
    started_at = await conn.fetchval("select now()")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api_port}", timeout=30) as api:

            async def live_org() -> dict | None:
                with contextlib.suppress(httpx.HTTPError, ValueError):
                    answer = await api.get(f"/v1/organizations/{LIVE_ORG}")
                    if answer.status_code == 200:
                        return answer.json()
                return None

            async def org_has_hours() -> bool:
                doc = await live_org()
                return bool(doc and doc["verified_hours"] > 0)

            await until("the trickle's organisation with verified hours", org_has_hours, proc)
            context = await browser.new_context(viewport={"width": 1280, "height": 1500})
            page = await context.new_page()
            await page.goto(f"http://127.0.0.1:{api_port}/?refresh=1000")
            await page.wait_for_selector("body[data-refreshes]")
            panel = page.get_by_test_id("freshness-volunteers")
            before = int(await panel.get_attribute("data-events") or 0)
            await page.wait_for_function(
                "n => Number(document.querySelector('[data-testid=freshness-volunteers]')"
                ".dataset.events) > n", arg=before, timeout=WAIT_S * 1000,
            )  # fmt: skip
            await expect(panel).to_have_attribute("data-state", re.compile("ok|slow|stale"))
            first = await live_org()
            assert first is not None

            async def org_moved() -> bool:
                now = await live_org()
                return bool(now and now["verified_hours"] > first["verified_hours"])

            await until("the organisation's verified hours to grow", org_moved, proc)
            await context.close()

        async def welcomed() -> bool:
            return len(read_smtp(sinks)) > emails_before

        await until("a welcome email in the SMTP sink", welcomed, proc)
        issued = [k for k in await list_partner_keys(conn) if k.created_at >= started_at]
        assert [k for k in issued if k.org_id.startswith("live-") and k.revoked_at is None]
    finally:
        await conn.close()
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        try:
            code = await asyncio.to_thread(proc.wait, 120)
        finally:
            if proc.poll() is None:
                proc.kill()
            end_group(proc)
    assert code == 0
    children = [int(p) for p in re.findall(rb"child_started.*?pid=(\d+)", out.read_bytes())]
    assert len(children) >= 9
    assert [pid for pid in children if b"tatawwu" in _cmdline(pid)] == []  # all stopped
    written = trickle_log.read_bytes()[mark:]
    assert b"trickle_opened" in written
    assert b"trickle_refused" not in written
    assert b"trickle_stopped" in written
    conn = await connect(stack)
    try:
        keys = [k for k in await list_partner_keys(conn) if k.created_at >= started_at]
    finally:
        await conn.close()
    assert keys, "the trickle issued keys for its organisations"
    assert all(k.revoked_at is not None for k in keys), "the trickle revoked its keys"


def _cmdline(pid: int) -> bytes:
    """A live process's command line (empty once it is gone)."""
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    return b""
