"""`tatawwu simulate --via file` through typer's test runner."""

from __future__ import annotations

from pathlib import Path

import orjson
import typer
from typer.testing import CliRunner

from tatawwu.cli_simulator import register


def cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    register(app)
    return app


def test_simulate_via_file_writes_the_stream_and_its_truth(tmp_path: Path) -> None:
    """The file holds every record; the truth's stream counts match it; a summary is printed."""
    out, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    args = ["simulate", "--via", "file", "--out", str(out), "--truth", str(truth),
            "--volunteers", "300", "--days", "14", "--until", "2025-06-30", "--seed", "3",
            "--duplicates", "0.02", "--invalid", "0.01"]  # fmt: skip
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    document = orjson.loads(truth.read_bytes())
    lines = out.read_bytes().splitlines()
    assert len(lines) == document["stream"]["total_records"]
    assert document["stream"]["duplicates"] == round(0.02 * document["stream"]["unique_events"])
    assert document["parameters"] == {"seed": 3, "volunteers": 300, "days": 14, "orgs": 10,
                                      "campaigns": 16, "until": "2025-06-30"}  # fmt: skip
    assert orjson.loads(lines[0])["id"] == "sim-3-1"
    assert "volunteer.signed_up" in result.output
    assert "events/s" in result.output


def test_simulate_via_file_without_out_is_refused(tmp_path: Path) -> None:
    """`--via file` needs `--out`; a bad fraction is refused too; nothing is written."""
    truth = tmp_path / "truth.json"
    result = CliRunner().invoke(cli(), ["simulate", "--via", "file", "--truth", str(truth)])
    assert result.exit_code == 2
    assert "--out" in result.output
    result = CliRunner().invoke(
        cli(), ["simulate", "--via", "file", "--out", "x", "--invalid", "2"]
    )
    assert result.exit_code == 2
    assert not truth.exists()
