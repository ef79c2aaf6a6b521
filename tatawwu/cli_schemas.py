"""`tatawwu validate` and `tatawwu schemas export`: the event contract at the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, BinaryIO

import orjson
import typer

from infra.problems import decode_errors, invalid_events
from schemas import DecodeError, decode_event
from schemas.export import export_json_schemas

# Typer keeps single newlines of a docstring in its rich help, so the help texts are
# written as one line per paragraph here rather than taken from the docstrings.
VALIDATE_HELP = (
    "Check every event in FILE against the contract, exactly as consumers decode them."
    "\n\n"
    "Prints 'line N: ok <type> <id>' or 'line N: error <reason>' followed by one indented "
    "line per broken rule (personal data is never echoed), then a summary line. "
    "Blank lines are skipped. Exit code 1 when any line is invalid, 0 otherwise."
    "\n\n"
    "Example: tatawwu validate events.jsonl"
)
EXPORT_HELP = (
    "Write one JSON Schema (draft 2020-12) per event type and version, plus "
    "envelope.schema.json and asyncapi.json (the AsyncAPI 3.0 document of the Kafka "
    "interface, which the gateway and the read API serve at /asyncapi), into DIR."
    "\n\n"
    "Output is deterministic. After changing any event model run "
    "'tatawwu schemas export schemas/published' and commit the result; a unit test fails "
    "while the committed documents and the code disagree."
)


schemas_app = typer.Typer(
    help="The published event contract (JSON Schema documents).", no_args_is_help=True
)


def validate(
    file: Annotated[
        typer.FileBinaryRead,
        typer.Argument(
            help="JSON Lines file of CloudEvents, one event per line; '-' reads stdin.",
            metavar="FILE",
        ),
    ],
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print only the gateway's problem+json answer to FILE sent as one batch "
            "(errors[].index: the 0-based line), nothing when every line is valid.",
        ),
    ] = False,
) -> None:
    """Check every event in FILE against the contract, exactly as consumers decode them."""
    stream: BinaryIO = file  # type: ignore[assignment]
    valid = invalid = 0
    errors: list[dict[str, Any]] = []
    for number, line in enumerate(stream, start=1):
        # Strip only the line terminator: other whitespace is JSON's business.
        raw = line.rstrip(b"\r\n")
        if not raw.strip():
            continue
        result = decode_event(raw)
        if isinstance(result, DecodeError):
            invalid += 1
            errors += decode_errors(number - 1, result)
            if not as_json:
                typer.echo(f"line {number}: error {result.reason}: {result.detail}")
                for error in result.errors:
                    typer.echo(f"  {error.path}: {error.message}")
        else:
            valid += 1
            if not as_json:
                typer.echo(f"line {number}: ok {result.type} {result.id}")
    if as_json and errors:
        typer.echo(orjson.dumps(invalid_events(errors, valid + invalid).body()).decode())
    elif not as_json:
        typer.echo(f"{valid + invalid} events: {valid} ok, {invalid} invalid")
    if invalid:
        raise typer.Exit(code=1)


@schemas_app.command("export", help=EXPORT_HELP)
def export(
    directory: Annotated[
        Path,
        typer.Argument(
            help="Directory to write into (created if missing), e.g. schemas/published.",
            metavar="DIR",
            file_okay=False,
        ),
    ],
) -> None:
    """Write the JSON Schemas, the envelope's and the AsyncAPI document (asyncapi.json)."""
    from tatawwu.asyncapi import asyncapi_document, render

    paths = export_json_schemas(directory)
    asyncapi = directory / "asyncapi.json"
    asyncapi.write_bytes(render(asyncapi_document()))
    paths.append(asyncapi)
    for path in paths:
        typer.echo(str(path))
    typer.echo(f"{len(paths)} documents written to {directory}")


def register(app: typer.Typer) -> None:
    """Attach `validate` and the `schemas` command group to the `tatawwu` app."""
    app.command("validate", help=VALIDATE_HELP)(validate)
    app.add_typer(schemas_app, name="schemas")
