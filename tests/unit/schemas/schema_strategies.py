"""Hypothesis strategies: valid JSON documents of every event type, and ways to break them.

Documents are plain JSON-ready dicts (what a partner sends), so that the same values can be
fed to `decode_event` and to the published JSON Schemas.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from hypothesis import strategies as st

from schemas import common, registry
from schemas.campaigns import CloseReason
from schemas.notifications import SuppressionReason

Doc = dict[str, Any]
LATEST_BIRTH_YEAR = dt.datetime.now(dt.UTC).year - common.MIN_VOLUNTEER_AGE

ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,20}", fullmatch=True)
event_ids = st.one_of(st.uuids().map(str), st.from_regex(r"evt-[a-z0-9]{1,30}", fullmatch=True))
# Characters text fields refuse besides the Cc category (C0, DEL, C1): line and paragraph
# separators and the bidi embedding, override and isolate controls.
TEXT_REFUSED = "\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
# Any printable text (Arabic, ZWJ, RLM and emoji included) that is not blank: a visible
# head, any allowed tail.
_tail = st.text(
    st.characters(exclude_categories=("Cc", "Cs"), exclude_characters=TEXT_REFUSED),
    max_size=30,
)
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


def _maybe(strategy: st.SearchStrategy[Any], *, nullable: bool = True) -> st.SearchStrategy[Any]:
    """Absent, a value, or (where the field may be cleared) null."""
    choices = [st.just(_ABSENT), strategy]
    return st.one_of(*choices, st.none()) if nullable else st.one_of(*choices)


_ABSENT = object()  # optional field left out of the document


@st.composite
def _fixed(
    draw: st.DrawFn, required: dict[str, Any], optional: dict[str, Any], nullable: bool
) -> Doc:
    doc = {key: draw(strategy) for key, strategy in required.items()}
    for key, strategy in optional.items():
        value = draw(_maybe(strategy, nullable=nullable))
        if value is not _ABSENT:
            doc[key] = value
    return doc


def _payload(
    required: dict[str, Any], optional: dict[str, Any] | None = None, *, nullable: bool = True
):
    return _fixed(required, optional or {}, nullable)


def _update(required: dict[str, Any], optional: dict[str, Any]):
    """A partial update: optional fields absent or set, never null (they cannot be cleared)."""
    return _fixed(required, optional, False)


_triple = {"volunteer_id": ids, "opportunity_id": ids, "campaign_id": ids}
_notification = {
    "notification_id": ids,
    "volunteer_id": ids,
    "template": st.from_regex(r"[a-z][a-z0-9_]{0,20}", fullmatch=True),
    "channel": enum(common.Channel),
    "cause_event_id": event_ids,
}
_consent = st.fixed_dictionaries(
    {"sms": st.booleans(), "email": st.booleans()}, optional={"alerts": st.booleans()}
)
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
        _update(
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
        **({"auto_release": draw(st.booleans())} if draw(st.booleans()) else {}),
    }


@st.composite
def _opportunity_updated(draw: st.DrawFn) -> Doc:
    doc = draw(
        _update(
            {"opportunity_id": ids, "campaign_id": ids},
            {
                "capacity": st.integers(1, 100_000),
                "municipality": enum(common.Municipality),
                "auto_release": st.booleans(),
            },
        )
    )
    starts_at = draw(instants)
    ends_at = starts_at + dt.timedelta(seconds=draw(st.integers(1, 3 * 24 * 3600)))
    which = draw(st.sampled_from(["none", "starts", "ends", "both"]))
    if which in ("starts", "both"):
        doc["starts_at"] = starts_at.isoformat()
    if which in ("ends", "both"):
        doc["ends_at"] = ends_at.isoformat()
    return doc


@st.composite
def _profile_updated(draw: st.DrawFn) -> Doc:
    doc = draw(
        _update(
            {"volunteer_id": ids},
            {
                "phone": phones,
                "email": emails,
                "language": enum(common.Language),
                "municipality": enum(common.Municipality),
            },
        )
    )
    if draw(st.booleans()):  # the name changes as a whole; null: no family name
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
    "opportunity.updated": _opportunity_updated(),
    "volunteer.registered": _payload(
        {"volunteer_id": ids, "given_name": names, **_profile}, {"family_name": names}
    ),
    "volunteer.profile_updated": _profile_updated(),
    "volunteer.consent_changed": _payload({"volunteer_id": ids, "consent": _consent}),
    "volunteer.erased": _payload({"volunteer_id": ids}),
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
    "notification.delivered": _payload(_notification),
    "notification.bounced": _payload(
        {**_notification, "permanent": st.booleans(), "reason": texts}
    ),
}
PAYLOADS_V1: dict[str, st.SearchStrategy[Doc]] = {
    "volunteer.registered": _payload({"volunteer_id": ids, "full_name": names, **_profile}),
    "volunteer.profile_updated": _payload(
        {"volunteer_id": ids},
        {
            "full_name": names,
            "phone": phones,
            "email": emails,
            "language": enum(common.Language),
            "municipality": enum(common.Municipality),
        },
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
