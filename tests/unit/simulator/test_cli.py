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
    """The file holds every record (streamed: duplicates and invalid records near the shares
    asked for, counted exactly in the truth); a summary is printed."""
    out, truth = tmp_path / "events.jsonl", tmp_path / "truth.json"
    args = ["simulate", "--via", "file", "--out", str(out), "--truth", str(truth),
            "--volunteers", "300", "--days", "14", "--until", "2025-06-30", "--seed", "3",
            "--duplicates", "0.02", "--invalid", "0.01"]  # fmt: skip
    result = CliRunner().invoke(cli(), args)
    assert result.exit_code == 0, result.output
    document = orjson.loads(truth.read_bytes())
    lines = out.read_bytes().splitlines()
    stream = document["stream"]
    assert len(lines) == stream["total_records"]
    ids = [e["id"] for line in lines if "-x" not in (e := _parsed(line)).get("id", "-x")]
    assert len(ids) - len(set(ids)) == stream["duplicates"] > 0
    assert len(set(ids)) == stream["unique_events"]
    assert 0 < stream["duplicates"] <= 3 * 0.02 * stream["unique_events"]
    assert 0 < sum(stream["invalid"].values()) <= 3 * 0.01 * stream["unique_events"]
    assert document["parameters"] == {"seed": 3, "volunteers": 300, "days": 14, "orgs": 10,
                                      "campaigns": 16, "until": "2025-06-30"}  # fmt: skip
    assert orjson.loads(lines[0])["id"] == "sim-3-1"
    assert "volunteer.signed_up" in result.output
    assert "events/s" in result.output


def _parsed(line: bytes) -> dict:
    """A record as JSON; an invalid record that does not parse as an id-less object."""
    try:
        document = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return document if isinstance(document, dict) else {}


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


def test_intensity_and_active_share_out_of_range_are_refused(tmp_path: Path) -> None:
    """`--intensity` must be positive hours and `--active-share` a share in (0, 1]."""
    truth = tmp_path / "truth.json"
    base = ["simulate", "--via", "null", "--truth", str(truth), "--volunteers", "10"]
    for option, value in (("--intensity", "0"), ("--active-share", "0"), ("--active-share", "1.5")):
        result = CliRunner().invoke(cli(), [*base, option, value])
        assert result.exit_code == 2, (option, value)
        assert option in result.output
    assert not truth.exists()
    result = CliRunner().invoke(cli(), [*base, "--intensity", "30", "--active-share", "0.2"])
    assert result.exit_code == 0, result.output
    assert orjson.loads(truth.read_bytes())["volunteers"]["totals"]["registered"] == 10
