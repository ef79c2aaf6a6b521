"""Hypothesis strategies: valid JSON documents of every event type, and ways to break them.

Documents are plain JSON-ready dicts (what a partner sends), so that the same values can be
fed to `decode_event` and to the published JSON Schemas.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from schemas import common, registry
from schemas.campaigns import CloseReason
from schemas.notifications import SuppressionReason

Doc = dict[str, Any]
LATEST_BIRTH_YEAR = dt.datetime.now(dt.UTC).year - common.MIN_VOLUNTEER_AGE

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)
event_ids = st.one_of(st.uuids().map(str), st.from_regex(r"evt-[a-z0-9]{1,30}", fullmatch=True))
# Any printable text (Arabic included) that is not blank: a visible head, any tail.
_tail = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30)
texts = st.builds(str.__add__, st.sampled_from(["A", "f", "م", "ع", "7", "("]), _tail)
names = texts
phones = st.from_regex(r"\+[1-9][0-9]{7,14}", fullmatch=True)
emails = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}(\.[a-z0-9_-]{1,8})?", fullmatch=True),
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True),
    st.sampled_from(["qa", "com", "edu.qa", "org"]),
)
zones = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=3)), dt.timezone(dt.timedelta(hours=-5, minutes=-30))]
)
instants = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 1, 1), timezones=zones
)
dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2035, 12, 31))
counts = st.integers(0, 10_000_000)


def enum(kind: type) -> st.SearchStrategy[str]:
    """Any value of a StrEnum, as its wire string."""
    return st.sampled_from([member.value for member in kind])


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(_ABSENT), st.none(), strategy)


_ABSENT = object()  # optional field left out of the document


@st.composite
def _fixed(draw: st.DrawFn, required: dict[str, Any], optional: dict[str, Any]) -> Doc:
    doc = {key: draw(strategy) for key, strategy in required.items()}
    for key, strategy in optional.items():
        value = draw(_maybe(strategy))
        if value is not _ABSENT:
            doc[key] = value
    return doc


def _payload(required: dict[str, Any], optional: dict[str, Any] | None = None):
    return _fixed(required, optional or {})


_triple = {"volunteer_id": ids, "opportunity_id": ids, "campaign_id": ids}
_notification = {
    "notification_id": ids,
    "volunteer_id": ids,
    "template": st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    "channel": enum(common.Channel),
    "cause_event_id": event_ids,
}
_consent = st.fixed_dictionaries({"sms": st.booleans(), "email": st.booleans()})
_profile = {
    "phone": phones,
    "email": emails,
    "language": enum(common.Language),
    "birth_year": st.integers(common.FIRST_BIRTH_YEAR, LATEST_BIRTH_YEAR),
    "gender": enum(common.Gender),
    "nationality_group": enum(common.NationalityGroup),
    "municipality": enum(common.Municipality),
    "consent": _consent,
}


@st.composite
def _date_range(draw: st.DrawFn) -> tuple[str, str]:
    start = draw(dates)
    return start.isoformat(), (start + dt.timedelta(days=draw(st.integers(0, 400)))).isoformat()


@st.composite
def _campaign_launched(draw: st.DrawFn) -> Doc:
    starts_on, ends_on = draw(_date_range())
    return {
        "campaign_id": draw(ids),
        "org_id": draw(ids),
        "title_ar": draw(texts),
        "title_en": draw(texts),
        "kind": draw(enum(common.CampaignKind)),
        "municipality": draw(enum(common.Municipality)),
        "starts_on": starts_on,
        "ends_on": ends_on,
        "target_volunteers": draw(counts),
        "target_hours": draw(counts),
    }


@st.composite
def _campaign_updated(draw: st.DrawFn) -> Doc:
    doc = draw(
        _payload(
            {"campaign_id": ids},
            {
                "title_ar": texts,
                "title_en": texts,
                "municipality": enum(common.Municipality),
                "target_volunteers": counts,
                "target_hours": counts,
            },
        )
    )
    starts_on, ends_on = draw(_date_range())
    which = draw(st.sampled_from(["none", "starts", "ends", "both"]))
    if which in ("starts", "both"):
        doc["starts_on"] = starts_on
    if which in ("ends", "both"):
        doc["ends_on"] = ends_on
    return doc


@st.composite
def _opportunity_published(draw: st.DrawFn) -> Doc:
    starts_at = draw(instants)
    ends_at = starts_at + dt.timedelta(seconds=draw(st.integers(1, 3 * 24 * 3600)))
    return {
        "opportunity_id": draw(ids),
        "campaign_id": draw(ids),
        "title_ar": draw(texts),
        "title_en": draw(texts),
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        "capacity": draw(st.integers(1, 100_000)),
        "municipality": draw(enum(common.Municipality)),
        "min_age": draw(st.integers(0, 100)),
    }


@st.composite
def _profile_updated(draw: st.DrawFn) -> Doc:
    doc = draw(
        _payload(
            {"volunteer_id": ids},
            {
                "phone": phones,
                "email": emails,
                "language": enum(common.Language),
                "municipality": enum(common.Municipality),
            },
        )
    )
    if draw(st.booleans()):  # the name changes as a whole
        doc["given_name"] = draw(names)
        family = draw(_maybe(names))
        if family is not _ABSENT:
            doc["family_name"] = family
    return doc


_at = instants.map(dt.datetime.isoformat)
_hours = st.floats(min_value=0, max_value=24, exclude_min=True, allow_nan=False)

PAYLOADS: dict[str, st.SearchStrategy[Doc]] = {
    "organization.registered": _payload(
        {"org_id": ids, "name_ar": texts, "name_en": texts, "sector": enum(common.Sector)}
    ),
    "organization.suspended": _payload({"org_id": ids, "reason": texts}),
    "campaign.launched": _campaign_launched(),
    "campaign.updated": _campaign_updated(),
    "campaign.closed": _payload({"campaign_id": ids, "reason": enum(CloseReason)}),
    "opportunity.published": _opportunity_published(),
    "opportunity.cancelled": _payload({"opportunity_id": ids, "campaign_id": ids, "reason": texts}),
    "volunteer.registered": _payload(
        {"volunteer_id": ids, "given_name": names, **_profile}, {"family_name": names}
    ),
    "volunteer.profile_updated": _profile_updated(),
    "volunteer.consent_changed": _payload({"volunteer_id": ids, "consent": _consent}),
    "volunteer.signed_up": _payload(_triple),
    "volunteer.signup_withdrawn": _payload(_triple),
    "volunteer.checked_in": _payload({**_triple, "at": _at, "method": enum(common.CheckInMethod)}),
    "volunteer.checked_out": _payload({**_triple, "at": _at}),
    "volunteer.hours_verified": _payload({**_triple, "hours": _hours, "verified_by": ids}),
    "volunteer.no_show": _payload(_triple),
    "notification.sent": _payload(_notification),
    "notification.failed": _payload(
        {**_notification, "error": texts, "attempts": st.integers(1, 100)}
    ),
    "notification.suppressed": _payload({**_notification, "reason": enum(SuppressionReason)}),
}
PAYLOADS_V1: dict[str, st.SearchStrategy[Doc]] = {
    "volunteer.registered": _payload({"volunteer_id": ids, "full_name": names, **_profile}),
    "volunteer.profile_updated": _payload(
        {"volunteer_id": ids},
        {"full_name": names, "phone": phones, "language": enum(common.Language)},
    ),
}


@st.composite
def events(draw: st.DrawFn, event_type: str, version: int | None = None) -> Doc:
    """A valid JSON document of `event_type` (current version unless `version` is given)."""
    spec = registry.spec_for(event_type, version)
    payloads = PAYLOADS if spec is registry.CURRENT[event_type] else PAYLOADS_V1
    data = draw(payloads[event_type])
    doc: Doc = {
        "specversion": "1.0",
        "id": draw(event_ids),
        "source": draw(st.sampled_from(["partner/", "platform/"])) + draw(ids),
        "type": event_type,
        "subject": data[spec.key_field],
        "time": draw(_at),
        "data": data,
    }
    if version is not None or draw(st.booleans()):
        doc["dataschema"] = spec.dataschema
    if draw(st.booleans()):
        doc["datacontenttype"] = "application/json"
    if draw(st.booleans()):
        doc["correlationid"] = draw(event_ids)
    return doc


def any_events() -> st.SearchStrategy[Doc]:
    """A valid document of any current event type."""
    return st.sampled_from(list(registry.EVENT_TYPES)).flatmap(events)


def dumps(doc: Doc) -> bytes:
    """The JSON bytes of a document, as a partner would send them."""
    return json.dumps(doc, ensure_ascii=False).encode()


# ---------------------------------------------------------------------------------------
# Mutations: each turns a valid document into an invalid one and says where the error is.
# ---------------------------------------------------------------------------------------


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
    Mutation("unknown envelope attribute", lambda doc: True, _set("partnerext", "x")),
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
