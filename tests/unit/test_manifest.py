"""The platform manifest: every declared process is a real command, each port used once."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from infra.migrations import INFRA
from infra.settings import Settings
from tatawwu.cli import app
from tatawwu.manifest import (
    GATEWAY,
    PLATFORM,
    PROJECTORS,
    Process,
    projector_named,
    shared_migrations,
)
from tatawwu.supervisor import platform_children


@pytest.mark.parametrize("process", PLATFORM, ids=lambda p: p.name)
def test_each_declared_process_runs_an_existing_cli_command(process: Process) -> None:
    """`tatawwu <command> --help` answers for every process the supervisor would start."""
    result = CliRunner().invoke(app, [*process.command, "--help"])
    assert result.exit_code == 0, result.output


def test_the_supervisor_starts_one_child_per_process_with_its_launch_arguments(
    tmp_path: Path,
) -> None:
    """Children are `python -m tatawwu <command> <options>`, projectors and the notifier with
    their metrics port."""
    children = {c.name: c for c in platform_children(PLATFORM, tmp_path)}
    assert list(children) == [p.name for p in PLATFORM]
    python = [sys.executable, "-m", "tatawwu"]
    assert children["gateway"].argv == [*python, "gateway"]
    assert children["notifier"].argv == [
        *python, "notifications", "run", "--instance-id", "notifier-1", "--metrics-port", "9309",
    ]  # fmt: skip
    assert children["projector:campaigns"].argv == [
        *python, "projections", "run", "campaigns", "--instance-id", "campaigns-1",
        "--metrics-port", "9300",
    ]  # fmt: skip
    assert children["projector:campaigns"].log_file == tmp_path / "projector-campaigns.log"


def test_ports_are_distinct_and_read_from_the_settings() -> None:
    """No two processes share a port; HTTP ports follow the settings the children read."""
    settings = Settings(gateway_port=18001, api_port=18002)
    ports = [p.http_port(settings) for p in PLATFORM if p.http_port is not None]
    ports += [p.metrics_port for p in PLATFORM if p.metrics_port is not None]
    assert len(ports) == len(set(ports))
    assert GATEWAY.http_port is not None
    assert GATEWAY.http_port(settings) == 18001


def test_projectors_are_known_by_name_and_unknown_names_are_refused_clearly() -> None:
    """The four read models; a wrong name lists the known ones."""
    assert list(PROJECTORS) == ["campaigns", "volunteers", "organizations", "participation"]
    assert projector_named("campaigns").name == "campaigns"
    with pytest.raises(KeyError, match="known: campaigns, organizations"):
        projector_named("nope")


def test_infra_up_applies_infra_then_the_shared_schema_owners() -> None:
    """Projectors and the notifier migrate their own schemas; `infra up` does the rest."""
    from producers.gateway.partners import MIGRATIONS

    assert shared_migrations() == [INFRA, MIGRATIONS]
