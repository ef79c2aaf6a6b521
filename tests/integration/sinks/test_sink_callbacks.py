"""The sinks process as a provider calling back: `tatawwu sinks reply` and `outcomes`, and
receipts, each request signed with the shared secret (checked here by a stand-in webhook)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from infra.local.process import port_open
from infra.local.sinks import read_sms
from infra.settings import PROJECT_ROOT
from infra.webhook_signing import SignatureError, verify
from tatawwu.cli_sinks import sinks_app
from tests.support.ports import free_port

SECRET = "sink-callback-test-secret"


class Receiver(ThreadingHTTPServer):
    """A stand-in for the gateway's webhooks: keeps each call with its signature's verdict."""

    calls: list[dict[str, Any]]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            verify(SECRET.encode(), headers, body, time.time(), 300)
            verdict = "valid"
        except SignatureError as exc:
            verdict = exc.reason
        assert isinstance(self.server, Receiver)
        self.server.calls.append({"path": self.path, "body": json.loads(body), "verdict": verdict})
        answer = json.dumps({"outcome": "seen"}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:  # quiet
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(("127.0.0.1", 0), _Handler)
    server.calls = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _wait(condition: Any, what: str, wait_s: float = 20) -> None:
    deadline = time.monotonic() + wait_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_replies_outcomes_and_receipts_reach_the_webhook_signed(
    tmp_path: Path, receiver: Receiver
) -> None:
    """A simulated reply, failed and delivered SMS receipts: all signed, all received."""
    smtp_port, sms_port = free_port(), free_port()
    webhook = f"http://127.0.0.1:{receiver.server_address[1]}"
    argv = [sys.executable, "-m", "infra.local.sinks", "--smtp-port", str(smtp_port),
            "--sms-port", str(sms_port), "--dir", str(tmp_path), "--webhook-url", webhook]  # fmt: skip
    env = {**os.environ, "TATAWWU_WEBHOOK_SECRET": SECRET,
           "TATAWWU_SINK_FAIL_NUMBERS": "+97455550003"}  # fmt: skip
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    sink = f"http://127.0.0.1:{sms_port}"
    try:
        _wait(lambda: port_open(sms_port) and port_open(smtp_port), "the sinks to listen")
        runner = CliRunner()
        result = runner.invoke(sinks_app, ["reply", "+97455550001", "إيقاف", "--sms-sink", sink])
        assert result.exit_code == 0, result.output
        assert "gateway answered 200: seen" in result.output
        result = runner.invoke(
            sinks_app, ["outcomes", "--fail", "+97455550002", "--sms-sink", sink]
        )
        assert result.exit_code == 0, result.output
        for n in (2, 3, 4):
            response = httpx.post(
                f"{sink}/v1/messages", json={"to": f"+9745555000{n}", "body": "hi"}
            )
            assert response.status_code == 202
        _wait(lambda: len(receiver.calls) >= 4, "the reply and three receipts")
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert {c["verdict"] for c in receiver.calls} == {"valid"}
    by_path: dict[str, list[dict[str, Any]]] = {}
    for call in receiver.calls:
        by_path.setdefault(call["path"], []).append(call["body"])
    [reply] = by_path["/v1/webhooks/sms/inbound"]
    assert (reply["from"], reply["body"]) == ("+97455550001", "إيقاف")
    status = {r["message_id"]: r for r in by_path["/v1/webhooks/sms/receipts"]}
    sent = {m["to"]: m["id"] for m in read_sms(tmp_path)}
    # +...2 told to fail by `tatawwu sinks outcomes`, +...3 by the setting, +...4 delivered
    assert [status[sent[f"+9745555000{n}"]]["status"] for n in (2, 3, 4)] == [
        "failed", "failed", "delivered",
    ]  # fmt: skip
    assert "unreachable" in status[sent["+97455550002"]]["reason"]
    assert b"+9745555000" not in output  # numbers never logged


def test_a_reply_without_a_webhook_url_is_a_clear_error(tmp_path: Path) -> None:
    """The sinks started without a webhook URL say so (409) and the CLI exits 1."""
    sms_port = free_port()
    argv = [sys.executable, "-m", "infra.local.sinks", "--smtp-port", str(free_port()),
            "--sms-port", str(sms_port), "--dir", str(tmp_path), "--webhook-url", ""]  # fmt: skip
    proc = subprocess.Popen(argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)  # fmt: skip
    try:
        _wait(lambda: port_open(sms_port), "the SMS sink to listen")
        result = CliRunner().invoke(
            sinks_app,
            ["reply", "+97455550001", "STOP", "--sms-sink", f"http://127.0.0.1:{sms_port}"],
        )
        assert result.exit_code == 1
        assert "409" in result.output
        assert "--webhook-url" in result.output
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
