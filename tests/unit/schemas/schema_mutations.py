"""Mutations: each turns a valid event document into an invalid one, naming where it breaks.

`cross_field` marks the rules JSON Schema cannot express (see schemas/export.py); the
schema-equivalence tests leave those out.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from schema_strategies import LATEST_BIRTH_YEAR, Doc, any_events, ids, names

from schemas import registry

# The contract for partial updates: every optional field but `family_name` cannot be cleared.
NOT_CLEARABLE = {
    "campaign.updated": (
        "title_ar",
        "title_en",
        "municipality",
        "starts_on",
        "ends_on",
        "target_volunteers",
        "target_hours",
    ),
    "volunteer.profile_updated": ("given_name", "phone", "email", "language", "municipality"),
}
TEXT_FIELDS = (
    "title_ar",
    "title_en",
    "name_ar",
    "name_en",
    "given_name",
    "family_name",
    "reason",
    "error",
)
# One character of each class text fields refuse: C0, DEL, C1 (NEL), separators, bidi.
REFUSED_IN_TEXT = [
    "\x00",
    "\t",
    "\n",
    "\x1b",
    "\x7f",
    "\x80",
    "\x85",
    "\x9f",
    "\u2028",
    "\u2029",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
]


@dataclass(frozen=True)
class Mutation:
    """A way to break a document: `apply` edits it in place, `path` is where it breaks."""

    name: str
    applies: Callable[[Doc], bool]
    apply: Callable[[Doc, st.DrawFn], str]  # returns the expected error path
    cross_field: bool = False  # not expressible in JSON Schema


def _data_field(name: str) -> Callable[[Doc], bool]:
    return lambda doc: name in doc["data"]


def _set(path: str, value: Any) -> Callable[[Doc, st.DrawFn], str]:
    def apply(doc: Doc, draw: st.DrawFn) -> str:
        target = doc
        *parents, leaf = path.split(".")
        for part in parents:
            target = target[part]
        target[leaf] = value(draw) if callable(value) else value
        return path

    return apply


def _drop_required(doc: Doc, draw: st.DrawFn) -> str:
    model = registry.spec_for(doc["type"], _version(doc)).model
    required = sorted(name for name, info in model.model_fields.items() if info.is_required())
    envelope = ["specversion", "id", "source", "type", "subject", "time", "data"]
    path = draw(st.sampled_from([*envelope, *(f"data.{name}" for name in required)]))
    target, leaf = (doc["data"], path[5:]) if path.startswith("data.") else (doc, path)
    del target[leaf]
    return path


def _version(doc: Doc) -> int | None:
    dataschema = doc.get("dataschema")
    return int(dataschema.rsplit(":v", 1)[1]) if dataschema else None


def _naive(field: str) -> Callable[[Doc, st.DrawFn], str]:
    def apply(doc: Doc, draw: st.DrawFn) -> str:
        target = doc["data"] if field != "time" else doc
        target[field] = draw(st.datetimes(min_value=dt.datetime(2000, 1, 1))).isoformat()
        return field if field == "time" else f"data.{field}"

    return apply


def _ends_before_starts(doc: Doc, draw: st.DrawFn) -> str:
    starts = dt.datetime.fromisoformat(doc["data"]["starts_at"])
    back = dt.timedelta(seconds=draw(st.integers(0, 10**6)))
    doc["data"]["ends_at"] = (starts - back).isoformat()
    return "data.ends_at"


def _ends_on_before(doc: Doc, draw: st.DrawFn) -> str:
    starts = dt.date.fromisoformat(doc["data"]["starts_on"])
    doc["data"]["ends_on"] = (starts - dt.timedelta(days=draw(st.integers(1, 400)))).isoformat()
    return "data.ends_on"


def _family_name_alone(doc: Doc, draw: st.DrawFn) -> str:
    doc["data"]["family_name"] = draw(names)
    return "data.given_name"  # reported where the fix belongs


def _clears(doc: Doc) -> bool:
    return doc["type"] in NOT_CLEARABLE


def _clear_unclearable(doc: Doc, draw: st.DrawFn) -> str:
    field = draw(st.sampled_from(NOT_CLEARABLE[doc["type"]]))
    doc["data"][field] = None
    return f"data.{field}"


def _has_text(doc: Doc) -> bool:
    return any(isinstance(doc["data"].get(field), str) for field in TEXT_FIELDS)


def _refused_character(doc: Doc, draw: st.DrawFn) -> str:
    fields = [field for field in TEXT_FIELDS if isinstance(doc["data"].get(field), str)]
    field = draw(st.sampled_from(fields))
    value = doc["data"][field]
    # Never last: Python's `$` (jsonschema) matches before a final newline (a known gap).
    at = draw(st.integers(0, len(value) - 1))
    doc["data"][field] = value[:at] + draw(st.sampled_from(REFUSED_IN_TEXT)) + value[at:]
    return f"data.{field}"


def _other_subject(doc: Doc, draw: st.DrawFn) -> str:
    doc["subject"] = draw(ids.filter(lambda value: value != doc["subject"]))
    return "subject"


_bad_phones = st.one_of(
    st.from_regex(r"[0-9]{8,12}", fullmatch=True),  # no plus
    st.from_regex(r"\+0[0-9]{8,12}", fullmatch=True),  # zero country code
    st.from_regex(r"\+[1-9][0-9]{15,20}", fullmatch=True),  # too long
    st.from_regex(r"\+[1-9][0-9]{2,5} [0-9]{4}", fullmatch=True),  # spaces
    st.just("+٩٧٤٥٥٥١٢٣٤٥"),  # Arabic-Indic digits
)
_bad_emails = st.sampled_from(
    ["fatima", "fatima@", "@example.qa", "a b@example.qa", "a@b", "a@-x.qa"]
)
_bad_enum = st.sampled_from(["atlantis", "", "DOHA", "Doha ", "unknown"])
_wrong_type = st.sampled_from([None, 1, 1.5, True, [], {}])

MUTATIONS: tuple[Mutation, ...] = (
    Mutation("drop a required field", lambda doc: True, _drop_required),
    Mutation("unknown data field", lambda doc: True, _set("data.surprise", 1)),
    Mutation("badly named extension", lambda doc: True, _set("partner_ext", "x")),
    Mutation("extension of a non-CloudEvents type", lambda doc: True, _set("partnerext", 1.5)),
    Mutation("wrong specversion", lambda doc: True, _set("specversion", "0.3")),
    Mutation("bad event id", lambda doc: True, _set("id", lambda d: "-" + d(ids))),
    Mutation("bad source", lambda doc: True, _set("source", "someone/else")),
    Mutation("naive time", lambda doc: True, _naive("time")),
    Mutation("bad phone", _data_field("phone"), _set("data.phone", lambda d: d(_bad_phones))),
    Mutation("bad email", _data_field("email"), _set("data.email", lambda d: d(_bad_emails))),
    Mutation(
        "wrong municipality",
        _data_field("municipality"),
        _set("data.municipality", lambda d: d(_bad_enum)),
    ),
    Mutation("wrong sector", _data_field("sector"), _set("data.sector", lambda d: d(_bad_enum))),
    Mutation("wrong method", _data_field("method"), _set("data.method", lambda d: d(_bad_enum))),
    Mutation("wrong channel", _data_field("channel"), _set("data.channel", "fax")),
    Mutation("naive check-in time", _data_field("at"), _naive("at")),
    Mutation(
        "hours out of range",
        _data_field("hours"),
        _set("data.hours", lambda d: d(st.sampled_from([0, 0.0, -1, 24.01, 25, 1e308]))),
    ),
    Mutation(
        "capacity below one",
        _data_field("capacity"),
        _set("data.capacity", lambda d: d(st.sampled_from([0, -5]))),
    ),
    Mutation("huge count", _data_field("target_volunteers"), _set("data.target_volunteers", 2**70)),
    Mutation("min age over 100", _data_field("min_age"), _set("data.min_age", 101)),
    Mutation("birth year before 1900", _data_field("birth_year"), _set("data.birth_year", 1899)),
    Mutation(
        "blank title",
        _data_field("title_en"),
        _set("data.title_en", lambda d: d(st.sampled_from(["", " ", "\t\n", "a\x00b"]))),
    ),
    Mutation("title too long", _data_field("title_ar"), _set("data.title_ar", "م" * 201)),
    Mutation(
        "bad aggregate id",
        _data_field("campaign_id"),
        _set("data.campaign_id", lambda d: d(st.sampled_from(["", "a b", "x" * 65, "é"]))),
    ),
    Mutation(
        "wrong type of value",
        lambda doc: True,
        _set("data.volunteer_id", lambda d: d(_wrong_type)),
    ),
    Mutation("consent not boolean", _data_field("consent"), _set("data.consent.sms", "yes")),
    Mutation(
        "family name without given name",
        lambda doc: doc["type"] == "volunteer.profile_updated" and "given_name" not in doc["data"],
        _family_name_alone,
    ),
    Mutation("clear a field that cannot be cleared", _clears, _clear_unclearable),
    Mutation("refused character in text", _has_text, _refused_character),
    # Rules JSON Schema cannot express (see schemas/export.py):
    Mutation("subject is not the key", lambda doc: True, _other_subject, cross_field=True),
    Mutation(
        "ends_at not after starts_at",
        _data_field("starts_at"),
        _ends_before_starts,
        cross_field=True,
    ),
    Mutation(
        "ends_on before starts_on",
        lambda doc: "starts_on" in doc["data"] and "ends_on" in doc["data"],
        _ends_on_before,
        cross_field=True,
    ),
    Mutation(
        "born too recently",
        _data_field("birth_year"),
        _set("data.birth_year", LATEST_BIRTH_YEAR + 1),
        cross_field=True,
    ),
)


@st.composite
def broken_events(draw: st.DrawFn, *, schema_expressible: bool = False) -> tuple[Doc, str, str]:
    """`(document, mutation name, expected error path)` of an invalid document."""
    doc = copy.deepcopy(draw(any_events()))
    choices = [
        mutation
        for mutation in MUTATIONS
        if mutation.applies(doc) and not (schema_expressible and mutation.cross_field)
    ]
    mutation = draw(st.sampled_from(choices))
    path = mutation.apply(doc, draw)
    return doc, mutation.name, path
