"""Human text at the contract: no controls, separators or bidi overrides; Arabic marks pass."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from jsonschema import Draft202012Validator
from schema_mutations import REFUSED_IN_TEXT
from test_schemas_published import schema_accepts

from schemas import DecodeError, decode_event
from schemas.common import TEXT_PATTERN
from schemas.examples import example

# (event type, text field) pairs covering each text type: PersonName, Title, FreeText.
TEXT_FIELDS = [
    ("volunteer.registered", "given_name"),
    ("volunteer.registered", "family_name"),
    ("campaign.launched", "title_ar"),
    ("organization.registered", "name_en"),
    ("opportunity.cancelled", "reason"),
    ("notification.failed", "error"),
]
CLASSES = {
    "C0 control": "\x1b",
    "NUL": "\x00",
    "tab": "\t",
    "DEL": "\x7f",
    "C1 control": "\x80",
    "NEL": "\x85",
    "last C1 control": "\x9f",
    "line separator": "\u2028",
    "paragraph separator": "\u2029",
    "LRE": "\u202a",
    "RLE": "\u202b",
    "PDF": "\u202c",
    "LRO": "\u202d",
    "RLO": "\u202e",
    "LRI": "\u2066",
    "RLI": "\u2067",
    "FSI": "\u2068",
    "PDI": "\u2069",
}


def with_text(event_type: str, field: str, value: str) -> dict:
    """The example of `event_type` with one text field replaced."""
    document = example(event_type)
    document["data"][field] = value
    if field == "family_name" and event_type == "volunteer.profile_updated":
        document["data"].setdefault("given_name", "Amna")
    return document


def test_every_refused_class_is_in_the_shared_mutation_list() -> None:
    """The property tests' mutation draws from every class this file checks by hand."""
    assert set(CLASSES.values()) <= set(REFUSED_IN_TEXT)


@pytest.mark.parametrize(("event_type", "field"), TEXT_FIELDS)
@pytest.mark.parametrize("name", list(CLASSES))
def test_each_refused_character_class_is_an_error_at_the_field(
    event_type: str, field: str, name: str
) -> None:
    """Inside otherwise valid text, each class is refused by the decoder and the schema."""
    document = with_text(event_type, field, f"Beach {CLASSES[name]}clean-up")
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError), name
    errors = [error for error in result.errors if error.path == f"data.{field}"]
    assert [error.rule for error in errors] == ["pattern"], result.summary()
    assert "control characters" in errors[0].message
    assert "bidi" in errors[0].message
    assert not schema_accepts(document), name


ALLOWED = [
    "نورة",
    "\u200fنورة",  # RLM before an Arabic name
    "عبد\u200cالله",  # ZWNJ inside
    "محمد\u200d",  # ZWJ
    "Al\u200eThani",  # LRM
    "Fatima Al-Kuwari",
    "Zoë Ñúñez",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467 family day",
    "خالد\u00a0المري",  # no-break space inside
    "Beach clean-up \u2013 day 2",  # en dash
]


@pytest.mark.parametrize("value", ALLOWED)
@pytest.mark.parametrize(("event_type", "field"), TEXT_FIELDS)
def test_arabic_names_with_direction_and_joiner_marks_pass(
    event_type: str, field: str, value: str
) -> None:
    """Arabic with RLM, ZWNJ, ZWJ or LRM, Latin accents and emoji are accepted by both."""
    document = with_text(event_type, field, value)
    result = decode_event(json.dumps(document, ensure_ascii=False))
    assert not isinstance(result, DecodeError), result.summary()
    assert getattr(result.data, field) == value
    assert schema_accepts(document)


@pytest.mark.parametrize(
    "value", [" ", "\u00a0", "\u3000", "\ufeff", "\u200f", "\u200b\u200c", "\u00ad", " \u2009 "]
)
def test_blank_or_invisible_only_text_is_refused(value: str) -> None:
    """Text needs one visible character: spaces, BOM or direction marks alone are blank."""
    document = with_text("campaign.launched", "title_en", value)
    result = decode_event(json.dumps(document))
    assert isinstance(result, DecodeError)
    assert [e.rule for e in result.errors if e.path == "data.title_en"] == ["pattern"]
    assert not schema_accepts(document)


def test_the_pattern_uses_only_portable_syntax_and_python_and_rust_agree() -> None:
    """Only `\\uXXXX` escapes in classes: no `\\s`, `\\d` or `\\w`, whose meaning differs."""
    assert not re.search(r"\\[sSdDwWbB]", TEXT_PATTERN)
    assert not re.search(r"\\x", TEXT_PATTERN)
    assert re.fullmatch(r"\^(\[\^(\\u[0-9A-F]{4}(-\\u[0-9A-F]{4})?)+\]\*?){3}\$", TEXT_PATTERN)
    # Python `re` (jsonschema) and the Rust `regex` crate (pydantic) agree character by
    # character on the whole Basic Multilingual Plane, surrogates aside.
    python = re.compile(TEXT_PATTERN)
    validator = Draft202012Validator({"type": "string", "pattern": TEXT_PATTERN})
    sample = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF and c % 7 == 0]
    sample += [*CLASSES.values(), "\u200c", "\u200d", "\u200e", "\u200f", "\ufeff", "\u0085"]
    for char in sample:
        text = f"a{char}b"
        rust = not isinstance(
            decode_event(json.dumps(with_text("organization.suspended", "reason", text))),
            DecodeError,
        )
        assert bool(python.search(text)) == rust == validator.is_valid(text), hex(ord(char))


_NODE_SCRIPT = """
const [pattern, texts] = JSON.parse(require("fs").readFileSync(0, "utf8"));
const plain = new RegExp(pattern), unicode = new RegExp(pattern, "u");
process.stdout.write(JSON.stringify(texts.map((t) => [plain.test(t), unicode.test(t)])));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node for an ECMA-262 engine")
def test_ecma_262_reads_the_pattern_as_python_does() -> None:
    """Node's RegExp, with and without the `u` flag, accepts exactly what Python `re` does."""
    texts = [f"a{chr(c)}b" for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    texts += [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF]
    texts += ["\U0001f600", "\u200f\u0646", "\ufeff", " \u00a0 ", "x\u2028", "x\n", ""]
    answer = subprocess.run(
        ["node", "-e", _NODE_SCRIPT],
        input=json.dumps([TEXT_PATTERN, texts]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    python = re.compile(TEXT_PATTERN)
    for text, (plain, unicode) in zip(texts, json.loads(answer.stdout), strict=True):
        expected = python.fullmatch(text) is not None
        assert plain == unicode == expected, ascii(text)
