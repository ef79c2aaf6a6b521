"""The partners' Kafka-direct example (`producers/examples/kafka_direct.py`), without a broker."""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

from producers.examples import kafka_direct
from schemas.binding import decode_record
from schemas.envelope import Event
from schemas.examples import example

SCRIPT = Path(kafka_direct.__file__)
ORG = "org-qrcs"


def partner_event(event_type: str = "organization.registered") -> dict[str, object]:
    return example(event_type) | {"source": f"partner/{ORG}", "id": f"evt-{event_type}"}


def test_the_example_imports_only_the_standard_library_and_aiokafka() -> None:
    """A partner runs it without our code: every import is the standard library's or aiokafka's."""
    tree = ast.parse(SCRIPT.read_text())
    imported = {
        name.split(".")[0]
        for node in ast.walk(tree)
        for name in (
            [alias.name for alias in node.names] if isinstance(node, ast.Import)
            else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
        )
    }  # fmt: skip
    assert "aiokafka" in imported
    assert imported - {"aiokafka"} <= set(sys.stdlib_module_names)


def test_lines_that_cannot_be_sent_are_named_by_number_and_blank_ones_ignored() -> None:
    """Bad JSON, a non-object and another organisation's source are skipped with a reason;
    a good line keeps its exact bytes."""
    good = json.dumps(partner_event(), ensure_ascii=False)
    foreign = json.dumps(example("organization.registered") | {"source": "partner/other"})
    lines = [good + "\n", "\n", "{not json\n", "[1, 2]\n", foreign + "\n"]
    read = list(kafka_direct.read_events(lines, ORG))
    assert [(n, e if isinstance(e, str) else "event") for n, e, _ in read] == [
        (1, "event"), (3, "not JSON"), (4, "not a JSON object"),
        (5, f"source is not partner/{ORG}"),
    ]  # fmt: skip
    assert read[0][2] == good.encode()


@pytest.mark.parametrize("event_type", ["organization.registered", "volunteer.checked_in"])
def test_both_content_modes_decode_to_the_same_event_on_the_platform(event_type: str) -> None:
    """Structured (the line as written, `content-type: application/cloudevents+json`) and
    binary (`ce_*` headers, `data` as the value) records are keyed by the subject and
    decode, by the platform's own decoder, to the same event."""
    event = partner_event(event_type)
    line = json.dumps(event, ensure_ascii=False).encode()
    key, value, headers = kafka_direct.to_record(event, line, binary=False)
    assert (key, value) == (str(event["subject"]).encode(), line)
    assert headers == [("content-type", b"application/cloudevents+json")]
    structured = decode_record(value, headers)
    key, value, headers = kafka_direct.to_record(event, line, binary=True)
    assert key == str(event["subject"]).encode()
    names = [name for name, _ in headers]
    assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject", "ce_time"} <= set(
        names
    )
    assert ("content-type", b"application/json") in headers
    binary = decode_record(value, headers)
    assert isinstance(structured, Event)
    assert isinstance(binary, Event)
    assert binary == structured


def test_the_password_comes_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No --password option (a command line is visible to every user); it is required."""
    monkeypatch.delenv("KAFKA_PASSWORD", raising=False)
    with pytest.raises(SystemExit):
        kafka_direct.parse_args(["--bootstrap", "b:9093", "--org", ORG])
    monkeypatch.setenv("KAFKA_PASSWORD", "pw")
    args = kafka_direct.parse_args(["--bootstrap", "b:9093", "--org", ORG])
    assert (args.password, args.security_protocol, args.mechanism) == (
        "pw", "SASL_SSL", "SCRAM-SHA-256",
    )  # fmt: skip
    with pytest.raises(SystemExit):
        kafka_direct.parse_args(["--bootstrap", "b:9093", "--org", ORG, "--password", "x"])
