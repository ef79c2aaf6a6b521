"""`tatawwu validate` and `tatawwu schemas export`, driven through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from infra.problems import ProblemDocument
from schemas.examples import example
from tatawwu.cli_schemas import register


@pytest.fixture
def app() -> typer.Typer:
    """A throwaway app with the schemas commands registered, as tatawwu/cli.py does."""
    application = typer.Typer()
    register(application)
    return application


def jsonl(*documents: dict | str) -> str:
    """JSON Lines text: dicts are dumped, strings kept as they are."""
    lines = [doc if isinstance(doc, str) else json.dumps(doc) for doc in documents]
    return "\n".join(lines) + "\n"


def bad_check_in() -> dict:
    """A check-in with an unknown method and a naive time."""
    document = example("volunteer.checked_in")
    document["data"]["method"] = "nfc"
    document["time"] = "2025-03-21T08:00:00"
    return document


def test_validate_reports_each_line_and_exits_zero_when_all_are_valid(
    app: typer.Typer, tmp_path: Path
) -> None:
    """Valid lines print `ok <type> <id>`; blank lines are skipped; exit code 0."""
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(example("volunteer.signed_up"), "", example("campaign.closed")))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "line 1: ok volunteer.signed_up evt-volunteer-signed_up-0001"
    assert lines[1] == "line 3: ok campaign.closed evt-campaign-closed-0001"
    assert lines[-1] == "2 events: 2 ok, 0 invalid"


def test_validate_lists_field_errors_and_exits_one(app: typer.Typer, tmp_path: Path) -> None:
    """Invalid lines print the reason and one indented line per broken rule; exit code 1."""
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(example("volunteer.no_show"), bad_check_in(), "{not json"))
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("line 1: ok volunteer.no_show")
    assert lines[1].startswith("line 2: error invalid_event")
    assert any(line.startswith("  time: timezone:") for line in lines)
    assert any(line.startswith("  data.method: enum:") for line in lines)
    assert any(line.startswith("line 3: error invalid_json") for line in lines)
    assert lines[-1] == "3 events: 1 ok, 2 invalid"


def test_validate_json_prints_the_gateways_problem_for_the_file_as_a_batch(
    app: typer.Typer, tmp_path: Path
) -> None:
    """`--json` prints one problem+json document, the gateway's shape; `index` is the line."""
    path = tmp_path / "events.jsonl"
    path.write_text(jsonl(example("volunteer.no_show"), bad_check_in(), "{not json"))
    result = CliRunner().invoke(app, ["validate", "--json", str(path)])
    assert result.exit_code == 1
    problem = json.loads(result.output)
    ProblemDocument.model_validate(problem)
    assert problem["type"] == "https://tatawwu.example/problems/invalid_events"
    assert (problem["status"], problem["code"]) == (422, "invalid_events")
    assert {error["index"] for error in problem["errors"]} == {1, 2}
    assert {"index": 1, "path": "data.method", "rule": "enum"}.items() <= next(
        e for e in problem["errors"] if e["path"] == "data.method"
    ).items()


def test_validate_json_prints_nothing_when_every_line_is_valid(app: typer.Typer) -> None:
    """`--json` with only valid lines: no output, exit code 0."""
    result = CliRunner().invoke(
        app, ["validate", "--json", "-"], input=jsonl(example("volunteer.no_show"))
    )
    assert (result.exit_code, result.output) == (0, "")


def test_validate_reads_stdin_when_given_a_dash(app: typer.Typer) -> None:
    """`-` reads the events from standard input."""
    result = CliRunner().invoke(app, ["validate", "-"], input=jsonl(example("volunteer.no_show")))
    assert result.exit_code == 0, result.output
    assert "line 1: ok volunteer.no_show" in result.output


def test_validate_reports_invalid_utf8_per_line(app: typer.Typer, tmp_path: Path) -> None:
    """A line of broken bytes is one invalid line; the others are still checked."""
    path = tmp_path / "events.jsonl"
    good = json.dumps(example("volunteer.no_show")).encode()
    path.write_bytes(good + b"\n\xff\xfe{\n" + good + b"\r\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "line 2: error invalid_json" in result.output
    assert "line 3: ok volunteer.no_show" in result.output


def test_validate_never_prints_personal_data(app: typer.Typer) -> None:
    """Errors about a bad phone name the rule, not the number."""
    document = example("volunteer.registered")
    document["data"]["phone"] = "+974 5550 1234"
    result = CliRunner().invoke(app, ["validate", "-"], input=jsonl(document))
    assert result.exit_code == 1
    assert "data.phone: pattern" in result.output
    assert "5550" not in result.output


def test_schemas_export_writes_the_published_documents(app: typer.Typer, tmp_path: Path) -> None:
    """`schemas export DIR` writes the same files as the committed copies."""
    target = tmp_path / "out"
    result = CliRunner().invoke(app, ["schemas", "export", str(target)])
    assert result.exit_code == 0, result.output
    published = Path(__file__).resolve().parents[3] / "schemas" / "published"
    written = sorted(path.name for path in target.iterdir())
    assert written == sorted(path.name for path in published.iterdir() if path.suffix == ".json")
    assert f"{len(written)} documents written" in result.output


def test_help_texts_explain_the_commands(app: typer.Typer) -> None:
    """`--help` says what the commands read, print and return."""
    runner = CliRunner()

    def help_text(*args: str) -> str:  # rich wraps lines to the terminal width
        return " ".join(runner.invoke(app, [*args, "--help"]).output.split())

    validate_help = help_text("validate")
    assert "Exit code 1 when any line is invalid" in validate_help
    assert "'-' reads stdin" in validate_help
    export_help = help_text("schemas", "export")
    assert "tatawwu schemas export schemas/published" in export_help
