"""Hostile values for every kind of field, and documents carrying them, as raw JSON bytes.

A value is either a JSON-ready Python value or a `Raw` literal spliced into the text as is
(`1e309`, `NaN`, 5,000 digits, 10,000 nested brackets): what a buggy or hostile producer can
put on the wire but `json.dumps` would refuse or rewrite.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from schema_strategies import Doc, events

from schemas import registry


@dataclass(frozen=True)
class Raw:
    """A JSON literal written into the document text unchanged."""

    text: str


def dump(doc: Any, *, ascii_only: bool = False) -> bytes:
    """JSON bytes of `doc` with its `Raw` literals spliced in.

    Lone surrogates come out as `\\ud800` escapes with `ascii_only`, else as the (invalid)
    UTF-8 bytes Python's `surrogatepass` writes for them: both happen on the wire.
    """
    literals: list[str] = []

    def raw_placeholder(value: object) -> str:
        if not isinstance(value, Raw):
            raise TypeError(type(value).__name__)
        literals.append(value.text)
        return f"@@raw{len(literals) - 1}@@"

    text = json.dumps(doc, ensure_ascii=ascii_only, default=raw_placeholder)
    for index, literal in enumerate(literals):
        text = text.replace(f'"@@raw{index}@@"', literal, 1)
    return text.encode("utf-8", "surrogatepass")


# --- Instants and dates: valid syntax at the edges of the calendar and of offsets -------


@st.composite
def rfc3339(draw: st.DrawFn, *, lenient: bool = True) -> str:
    """An RFC 3339 date-time; `lenient` also draws fields just out of range (month 13...)."""
    if draw(st.integers(0, 3)) == 0:  # the first and last moments, where offsets overflow
        moment = draw(st.sampled_from(["0001-01-01T00:00:00", "9999-12-31T23:59:59"]))
        return moment + draw(offsets(lenient=lenient))
    wide = lenient and draw(st.booleans())
    year = draw(st.sampled_from([1, 2, 1969, 1970, 2025, 9998, 9999]) | st.integers(0, 9999))
    month = draw(st.integers(0, 13) if wide else st.integers(1, 12))
    day = draw(st.integers(0, 32) if wide else st.integers(1, 28))
    hour = draw(st.integers(0, 25) if wide else st.integers(0, 23))
    minute, second = draw(st.integers(0, 59)), draw(st.integers(0, 60 if wide else 59))
    fraction = draw(st.sampled_from(["", ".0", ".123456", ".999999999", "." + "9" * 30]))
    separator = draw(st.sampled_from(["T", "t", " "]))
    text = f"{year:04d}-{month:02d}-{day:02d}{separator}{hour:02d}:{minute:02d}:{second:02d}"
    return text + fraction + draw(offsets(lenient=lenient))


def offsets(*, lenient: bool = True) -> st.SearchStrategy[str]:
    """`Z`, or a numeric offset up to ±23:59 (±99:99 when `lenient`)."""
    top = 99 if lenient else 23
    # Hypothesis favours the first choices: the offsets that overflow come first.
    numeric = st.builds(
        "{}{:02d}:{:02d}".format,
        st.sampled_from(["+", "-"]),
        st.sampled_from([5, 23, 14, 1]) | st.integers(0, top),
        st.sampled_from([59, 0, 30]) | st.integers(0, 59 if not lenient else 99),
    )
    return st.one_of(numeric, st.sampled_from(["Z", "z", "+00:00", "-00:00", "+23:59", "-23:59"]))


dates_text = st.builds(
    "{:04d}-{:02d}-{:02d}".format,
    st.sampled_from([0, 1, 9999]) | st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
)

# --- Numbers ------------------------------------------------------------------------------

numbers = st.one_of(
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 2**31, 2**53 + 1, 2**63, 2**64, -(2**63) - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 5e-324, 1e308, -1e308, 1.7976931348623157e308, 24.000000000000004]),
    st.sampled_from(
        [
            Raw("NaN"),
            Raw("Infinity"),
            Raw("-Infinity"),
            Raw("1e309"),
            Raw("-1e400"),
            Raw("1e-400"),
            Raw("-0"),
            Raw("1E+2"),
            Raw("1.0e1"),
            Raw("0.1e-5"),
            Raw("1" + "0" * 100),
            Raw("9" * 5000),
            Raw("-" + "9" * 5000),
            Raw("0." + "0" * 1000 + "1"),
            Raw("01"),
            Raw("+1"),
            Raw(".5"),
            Raw("1."),
        ]
    ),
)

# --- Text ---------------------------------------------------------------------------------

SPECIAL_CHARACTERS = [
    *"\x00\x01\t\n\r\x1b\x1f\x7f\x80\x85\x9f",  # C0, DEL, C1 (NEL)
    *"\u2028\u2029",  # line and paragraph separators
    *"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",  # bidi controls
    *"\u200b\u200c\u200d\u200e\u200f\u061c\u00ad\ufeff\u00a0\u3000",  # invisible, spaces
    *"\ud800\udbff\udc00\udfff",  # lone surrogates
    "\U0001f600",
    "\U0001f469\u200d\U0001f469\u200d\U0001f467",  # emoji ZWJ sequence
    "\U0010ffff",
    "\u0301",  # a combining mark
    "محمد",
    "\u200fنورة",
    "عبد\u200cالله",
    "٩٧٤",  # Arabic-Indic digits
    "'",
    '"',
    "\\",
    "{}",
    "%s",
    "{0}",
]
_any_character = st.characters(exclude_categories=())  # surrogates included
texts = st.one_of(
    st.lists(st.sampled_from(SPECIAL_CHARACTERS) | _any_character, max_size=40).map("".join),
    st.builds(str.__mul__, st.sampled_from(["x", "م", "\U0001f600", " "]), st.integers(190, 520)),
    st.integers(10_000, 70_000).map("x".__mul__),  # past the size limit, or near it
)

# --- Containers and nesting ---------------------------------------------------------------

_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=5))
containers = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=12,
)
deep = st.builds(
    lambda depth, shape: Raw(shape[0] * depth + shape[1] + shape[2] * depth),
    st.sampled_from([64, 127, 128, 200, 254, 255, 256, 1000, 10_000]),
    st.sampled_from([("[", "", "]"), ('{"a":', "1", "}"), ("[{", "", "}]")]),
)

hostile_values = st.one_of(
    rfc3339(),
    dates_text,
    numbers,
    texts,
    containers,
    deep,
    st.sampled_from([None, True, False, [], {}, "", " ", "null", "1.0", "2025-03-21"]),
)
"""Any value a field might receive on the wire."""

# --- Documents ----------------------------------------------------------------------------


def paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every key path of a document, containers and leaves, in order."""
    found = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found.append((*prefix, key))
            found += paths(value, (*prefix, key))
    return found


def put(doc: Doc, path: tuple[str, ...], value: Any) -> None:
    """Set (or add) the value at `path`; parents that are no longer objects are replaced."""
    target = doc
    for part in path[:-1]:
        if not isinstance(target.get(part), dict):
            target[part] = {}
        target = target[part]
    target[path[-1]] = value


@st.composite
def hostile_events(draw: st.DrawFn, event_type: str, version: int) -> bytes:
    """A valid document of (type, version) with 1-3 fields replaced, added or removed."""
    doc = copy.deepcopy(draw(events(event_type, version)))
    for _ in range(draw(st.integers(1, 3))):
        known = paths(doc)
        action = draw(st.sampled_from(["replace", "replace", "replace", "add", "remove"]))
        if action == "remove" and known:
            *parents, leaf = draw(st.sampled_from(known))
            target = doc
            for part in parents:
                target = target[part]
            del target[leaf]
        elif action == "add" or not known:
            parent = draw(st.sampled_from([(), ("data",)]))
            put(doc, (*parent, draw(st.text(max_size=8))), draw(hostile_values))
        else:
            path = draw(st.sampled_from(known))
            value = _get(doc, path)
            put(doc, path, draw(st.one_of(hostile_values, _suited_to(value))))
    return dump(doc, ascii_only=draw(st.booleans()))


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _get(doc: Doc, path: tuple[str, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def _suited_to(value: Any) -> st.SearchStrategy[Any]:
    """Hostile values of the same kind as `value`: an instant for an instant, and so on."""
    if isinstance(value, str) and _DATE.match(value):
        return rfc3339() if len(value) > 10 else dates_text
    if isinstance(value, str):
        return texts
    if isinstance(value, int | float) and not isinstance(value, bool):
        return numbers
    return hostile_values


SPEC_KEYS = sorted(registry.SPECS)
"""Every (type, version) the registry knows, current and older."""
