"""`tatawwu partners add|list|revoke` and `tatawwu publish` (both paths) on the real stack."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from infra.settings import Settings
from producers.gateway import create_app
from producers.gateway.server import ServerThread
from schemas.examples import example
from tatawwu.cli_partners import register as register_partners
from tatawwu.cli_producers import register

pytestmark = [pytest.mark.kafka, pytest.mark.postgres]


@pytest.fixture(scope="module")
def cli() -> typer.Typer:
    """A bare Typer app with only the producer commands registered."""
    app = typer.Typer()
    register(app)
    register_partners(app)
    return app


def invoke(cli: typer.Typer, *args: str, **kwargs: Any) -> Any:
    return CliRunner().invoke(cli, list(args), **kwargs)


def add_key(cli: typer.Typer, org: str) -> str:
    result = invoke(cli, "partners", "add", org)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def events_file(tmp_path: Path, org: str, lines: list[bytes | dict[str, Any]]) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b"\n".join(line if isinstance(line, bytes) else orjson.dumps(line) for line in lines)
        + b"\n"
    )
    return path


def registered(org: str, n: int) -> dict[str, Any]:
    """A valid volunteer.registered from `org` with a unique id and volunteer."""
    event = example("volunteer.registered")
    volunteer = f"vol-{uuid.uuid4().hex[:10]}"
    event.update(id=f"evt-{volunteer}-{n}", source=f"partner/{org}", subject=volunteer)
    event["data"]["volunteer_id"] = volunteer
    return event


def test_partners_add_list_and_revoke(cli: typer.Typer, stack: Settings, unique: str) -> None:
    """A new key is printed once, listed by id without its secret, then shown revoked."""
    key = add_key(cli, f"org-{unique}")
    key_id = key.split("_")[1]
    listed = invoke(cli, "partners", "list")
    assert listed.exit_code == 0
    [row] = [line for line in listed.stdout.splitlines() if key_id in line]
    assert f"org-{unique}" in row
    assert key.split("_", 2)[2] not in listed.stdout
    assert invoke(cli, "partners", "revoke", key_id).exit_code == 0
    [row] = [line for line in invoke(cli, "partners", "list").stdout.splitlines() if key_id in line]
    assert row.rstrip(" │|").split("│")[-1].strip() != "-"


def test_revoking_an_unknown_key_fails(cli: typer.Typer, stack: Settings) -> None:
    """An id that names no key exits 1 with a message."""
    result = invoke(cli, "partners", "revoke", "000000000000")
    assert result.exit_code == 1
    assert "no partner key" in result.stderr


def test_publish_via_kafka_names_rejected_lines_and_exits_1(
    cli: typer.Typer, stack: Settings, tmp_path: Path, unique: str
) -> None:
    """Valid lines are produced; the invalid one is reported by its number; exit status 1."""
    org = f"org-{unique}"
    bad = registered(org, 9)
    bad["data"]["language"] = "fr"
    path = events_file(tmp_path, org, [registered(org, 1), b"", registered(org, 2), bad, b"{oops"])
    result = invoke(cli, "publish", str(path), "--via", "kafka")
    assert result.exit_code == 1, result.output
    assert "line 4: rejected: invalid_event" in result.stdout
    assert "line 5: rejected: invalid_json" in result.stdout
    assert "2 accepted, 2 rejected" in result.stdout


def test_publish_from_stdin_with_only_bad_lines_rejects_them_all(
    cli: typer.Typer, stack: Settings
) -> None:
    """'-' reads stdin; a stream with nothing valid sends nothing and exits 1."""
    result = invoke(cli, "publish", "-", "--via", "kafka", input="{bad\n\n[1]\n")
    assert result.exit_code == 1, result.output
    assert "line 1: rejected: invalid_json" in result.stdout
    assert "line 3: rejected: not_an_object" in result.stdout
    assert "0 accepted, 2 rejected" in result.stdout


def test_publish_via_kafka_of_a_clean_file_exits_0(
    cli: typer.Typer, stack: Settings, tmp_path: Path, unique: str
) -> None:
    """Every line accepted: exit status 0 and a summary."""
    path = events_file(
        tmp_path, f"org-{unique}", [registered(f"org-{unique}", n) for n in range(20)]
    )
    result = invoke(cli, "publish", str(path), "--via", "kafka")
    assert result.exit_code == 0, result.output
    assert "20 accepted, 0 rejected" in result.stdout


def test_publish_via_gateway_sends_batches_and_reports_refusals(
    cli: typer.Typer, stack: Settings, tmp_path: Path, unique: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through a served gateway: a foreign-source line is refused by number, the rest accepted."""
    org = f"org-{unique}"
    monkeypatch.setenv("TATAWWU_PARTNER_KEY", add_key(cli, org))
    foreign = registered(org, 3)
    foreign["source"] = "partner/org-someone-else"
    lines: list[bytes | dict[str, Any]] = [registered(org, n) for n in range(7)]
    lines[3] = foreign
    lines.append(b"[not an event")
    path = events_file(tmp_path, org, lines)
    with ServerThread(create_app(stack), stack) as server:
        result = invoke(cli, "publish", str(path), "--gateway-url", server.url, "--batch-size", "3")
    assert result.exit_code == 1, result.output
    assert "line 4: rejected: HTTP 403: source: source must be" in result.stdout
    assert "line 8: rejected: invalid_json" in result.stdout
    assert "6 accepted, 2 rejected" in result.stdout


def test_publish_via_gateway_without_a_key_is_a_usage_error(
    cli: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No --key and no TATAWWU_PARTNER_KEY: exit 2 before reading anything else."""
    monkeypatch.delenv("TATAWWU_PARTNER_KEY", raising=False)
    path = events_file(tmp_path, "org-x", [registered("org-x", 1)])
    result = invoke(cli, "publish", str(path))
    assert result.exit_code == 2
    assert "TATAWWU_PARTNER_KEY" in result.stderr
