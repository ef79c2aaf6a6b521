"""`python -m infra.local.sinks` serves both sinks and exits 0 on SIGTERM with its records kept."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from infra.local.process import port_open
from infra.local.sinks import read_sms
from infra.settings import PROJECT_ROOT
from tests.support.ports import free_port


def test_the_sinks_process_records_an_sms_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    """Start, wait for both ports, send one SMS, SIGTERM: exit code 0 and the line is on disk."""
    smtp_port, sms_port = free_port(), free_port()
    argv = [sys.executable, "-m", "infra.local.sinks", "--smtp-port", str(smtp_port),
            "--sms-port", str(sms_port), "--dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(
        argv, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 8.0
        while not (port_open(smtp_port) and port_open(sms_port)):
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "the sinks did not listen within 8 s"
            time.sleep(0.05)
        response = httpx.post(
            f"http://127.0.0.1:{sms_port}/v1/messages",
            json={"to": "+97455550000", "body": "تجربة"},
            headers={"Idempotency-Key": "proc-1"},
        )
        assert response.status_code == 202
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=8)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert proc.returncode == 0, output.decode()
    assert b"sinks_stopped" in output
    assert b"+97455550000" not in output
    [stored] = read_sms(tmp_path)
    assert (stored["id"], stored["body"]) == (response.json()["id"], "تجربة")
