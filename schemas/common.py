"""Shared building blocks of the event contract: the payload base model, enums and field types.

Every constraint here is written so that pydantic (the decoder) and the published JSON
Schema documents enforce the same thing: patterns use only syntax that the Rust `regex`
crate, Python `re` and ECMA-262 read identically (ASCII classes such as `[0-9]` instead of
`\\d`, which is Unicode-aware in Rust and would accept Arabic-Indic digits; `\\uXXXX`
escapes inside character classes, never `\\s`, whose meaning differs in each).
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    model_serializer,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

# ---------------------------------------------------------------------------------------
# Base model
# ---------------------------------------------------------------------------------------


class Payload(BaseModel):
    """Base of every event payload: immutable, strict JSON types, no unknown fields.

    `strict=True` keeps the decoder and the JSON Schema documents in step: `"5"` is not an
    integer and `1` is not a boolean in either. `allow_inf_nan=False` rejects NaN/Infinity,
    which pydantic's JSON parser would otherwise read into float fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


# ---------------------------------------------------------------------------------------
# Enumerations (values are the wire format; never rename a value, add new ones instead)
# ---------------------------------------------------------------------------------------


class Municipality(StrEnum):
    """The eight municipalities of Qatar."""

    DOHA = "doha"
    AL_RAYYAN = "al_rayyan"
    AL_WAKRAH = "al_wakrah"
    UMM_SALAL = "umm_salal"
    AL_KHOR = "al_khor"
    AL_DAAYEN = "al_daayen"
    AL_SHAMAL = "al_shamal"
    AL_SHAHANIYA = "al_shahaniya"


class Sector(StrEnum):
    """The sector a partner organisation belongs to."""

    GOVERNMENT = "government"
    PRIVATE = "private"
    NONPROFIT = "nonprofit"
    ACADEMIC = "academic"
    COMMUNITY = "community"


class Gender(StrEnum):
    """Gender as recorded at registration (the national KPI is reported by it)."""

    FEMALE = "female"
    MALE = "male"


class NationalityGroup(StrEnum):
    """Citizens and residents are reported separately."""

    QATARI = "qatari"
    RESIDENT = "resident"


class Language(StrEnum):
    """Language the volunteer wants to be contacted in."""

    AR = "ar"
    EN = "en"


class CheckInMethod(StrEnum):
    """How attendance was captured at the venue."""

    QR = "qr"
    KIOSK = "kiosk"
    MANUAL = "manual"
    GEOFENCE = "geofence"


class CampaignKind(StrEnum):
    """Whether a campaign recruits volunteers or only raises awareness."""

    VOLUNTEER_DRIVE = "volunteer_drive"
    AWARENESS = "awareness"


class Channel(StrEnum):
    """Notification channels."""

    SMS = "sms"
    EMAIL = "email"


# ---------------------------------------------------------------------------------------
# Patterns and limits
# ---------------------------------------------------------------------------------------

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$"
SOURCE_PATTERN = r"^(partner|platform)/[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
TEMPLATE_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
# CloudEvents extension attribute names (the spec's a-z/0-9, its 20-character advice made a rule).
EXTENSION_NAME_PATTERN = r"^[a-z0-9]{1,20}$"
# W3C Trace Context (https://www.w3.org/TR/trace-context/): version-trace_id-parent_id-flags;
# tracestate: printable ASCII list members, at most 512 characters, no edge blanks.
TRACEPARENT_PATTERN = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
TRACESTATE_PATTERN = r"^[\u0021-\u007E]([\u0020-\u007E]{0,510}[\u0021-\u007E])?$"
# E.164: a plus, a non-zero country code digit, 8 to 15 digits in all.
PHONE_PATTERN = r"^\+[1-9][0-9]{7,14}$"
# A deliberately plain address syntax (RFC 5321 dot-atom local part, LDH domain labels, a
# dot in the domain). email-validator (pydantic's EmailStr) is ~80x slower (36 us against
# 0.45 us per address) and cannot be expressed in JSON Schema, so the two would disagree.
EMAIL_PATTERN = (
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
# Human text refuses, anywhere: C0 and C1 controls (NEL included) and DEL, the line and
# paragraph separators, and the bidi embedding, override and isolate controls (they reorder
# what a reader sees: text spoofing in official messages). ZWNJ/ZWJ (U+200C/D) and LRM/RLM
# (U+200E/F), which Arabic text needs, stay allowed.
TEXT_FORBIDDEN = r"\u0000-\u001F\u007F-\u009F\u2028\u2029\u202A-\u202E\u2066-\u2069"
# Allowed, but not enough to make text non-blank: whitespace (every character that Python,
# Rust or ECMA-262 calls `\s`, spelt out because the three disagree: ECMA-262 counts
# U+FEFF) and invisible format characters (soft hyphen, ALM, zero-width ones, LRM/RLM).
TEXT_BLANK = (
    r"\u0020\u00A0\u00AD\u061C\u1680\u180E\u2000-\u200F\u202F\u205F\u2060-\u2064\u3000\uFEFF"
)
# At least one visible character; `\uXXXX` escapes read the same in all three dialects.
TEXT_PATTERN = rf"^[^{TEXT_FORBIDDEN}]*[^{TEXT_FORBIDDEN}{TEXT_BLANK}][^{TEXT_FORBIDDEN}]*$"

NAME_MAX = 200
TITLE_MAX = 200
REASON_MAX = 500
EMAIL_MAX = 254
MIN_VOLUNTEER_AGE = 10
FIRST_BIRTH_YEAR = 1900

# Field names whose values are personal data or free text that may contain it, for code
# that logs or displays payloads. Error messages need no such list: they echo no value of
# any field (see schemas/errors.py).
REDACTED_FIELDS = frozenset(
    {"full_name", "given_name", "family_name", "phone", "email", "birth_year", "reason", "error"}
)

# ---------------------------------------------------------------------------------------
# Field types
# ---------------------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""An aggregate identifier (org, campaign, opportunity, volunteer): 1-64 safe characters."""

EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN)]
"""An event identifier chosen by the emitter: 1-128 safe characters (a UUID or ULID fits)."""

TemplateName = Annotated[str, StringConstraints(pattern=TEMPLATE_PATTERN)]
PersonName = Annotated[str, StringConstraints(max_length=NAME_MAX, pattern=TEXT_PATTERN)]
Title = Annotated[str, StringConstraints(max_length=TITLE_MAX, pattern=TEXT_PATTERN)]
FreeText = Annotated[str, StringConstraints(max_length=REASON_MAX, pattern=TEXT_PATTERN)]
Phone = Annotated[str, StringConstraints(pattern=PHONE_PATTERN)]
Email = Annotated[str, StringConstraints(max_length=EMAIL_MAX, pattern=EMAIL_PATTERN)]


def _to_utc(value: dt.datetime) -> dt.datetime:
    """Normalise an aware datetime to UTC so consumers compare and store one form.

    A syntactically valid time can leave Python's range once its offset is applied
    (`9999-12-31T23:59:59-23:59`, `0001-01-01T00:00:00+05:00`): a validation error, not an
    `OverflowError` escaping the decoder.
    """
    try:
        return value.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        raise PydanticCustomError(
            "out_of_range", "must fall within the years 0001 to 9999 once converted to UTC"
        ) from None


# What pydantic's parser accepts, as a pattern: RFC 3339 plus the tolerated space
# separator and omitted seconds. Published so that JSON Schema users reject naive times too.
DATETIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})$"
)

Instant = Annotated[
    AwareDatetime,
    Field(
        description="RFC 3339 date-time with Z or a numeric offset; normalised to UTC, "
        "which must fall within the years 0001 to 9999.",
        json_schema_extra={"pattern": DATETIME_PATTERN},
    ),
    AfterValidator(_to_utc),
]
"""A timezone-aware instant (naive times are rejected), normalised to UTC."""


def _old_enough(year: int) -> int:
    """Volunteers are at least MIN_VOLUNTEER_AGE: the bound moves with the calendar.

    Only the upper bound moves, and only forward, so an event valid when emitted stays
    valid when the log is replayed years later.
    """
    latest = dt.datetime.now(dt.UTC).year - MIN_VOLUNTEER_AGE
    if year > latest:
        raise PydanticCustomError(
            "too_young",
            "birth year must be at most {latest} (volunteers are at least {age})",
            {"latest": latest, "age": MIN_VOLUNTEER_AGE},
        )
    return year


BirthYear = Annotated[
    int,
    Field(
        ge=FIRST_BIRTH_YEAR,
        description=f"Year of birth: from {FIRST_BIRTH_YEAR} to the current year minus "
        f"{MIN_VOLUNTEER_AGE} (the upper bound moves with the calendar; not in this schema).",
    ),
    AfterValidator(_old_enough),
]
Count = Annotated[int, Field(ge=0, le=10_000_000)]
Capacity = Annotated[int, Field(ge=1, le=100_000)]
MinAge = Annotated[int, Field(ge=0, le=100)]
Hours = Annotated[float, Field(gt=0, le=24)]
Attempts = Annotated[int, Field(ge=1, le=100)]


class _RefuseNull:
    """Validation and schema of a `NotClearable` field: null is an error, not a value."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        # An after validator: a wrap or before one would see a Python value and, strict,
        # refuse the JSON string form of dates. Defaults are not validated, so it runs only
        # when the field was sent.
        def refuse_null(value: Any, info: core_schema.ValidationInfo) -> Any:
            if value is None:
                raise PydanticCustomError(
                    "not_clearable",
                    "{name} cannot be cleared: send a value, or omit it to leave it unchanged",
                    {"name": info.field_name or "this field"},
                )
            return value

        return core_schema.with_info_after_validator_function(refuse_null, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        branches = [b for b in json_schema.get("anyOf", ()) if b != {"type": "null"}]
        if len(branches) == 1:  # `X | None` published as plain `X`: null is not allowed
            del json_schema["anyOf"]
            json_schema.update(branches[0])
        return json_schema


def _no_default(field_schema: dict[str, Any]) -> None:
    # pydantic would publish `"default": null`, a value the schema itself refuses.
    field_schema.pop("default", None)


_T = TypeVar("_T")

NotClearable = Annotated[
    _T | None,
    _RefuseNull(),
    Field(
        description="Absent: unchanged. Cannot be cleared: null is refused.",
        json_schema_extra=_no_default,
    ),
]
"""An optional field of a partial update that may be omitted (unchanged) but not cleared.

The attribute reads None when the field was absent; an explicit JSON null is refused with
rule `not_clearable` (the value is required at launch or registration, so clearing it would
leave the record incomplete). `model_fields_set` tells absent from sent.
"""


class Consent(Payload):
    """What the volunteer agreed to be contacted by (and, opt-in, for what)."""

    sms: bool
    email: bool
    alerts: bool = Field(
        default=False,
        description="Alerts of new opportunities that match the volunteer (by SMS, at most "
        "one a day); default false.",
    )

    @model_serializer(mode="wrap")
    def _alerts_only_when_given(self, handler: Any) -> Any:
        # Written only when on, so consents without alerts encode as they always did
        # (records re-encoded by replays stay byte-identical).
        out = handler(self)
        if isinstance(out, dict) and not out.get("alerts"):
            out.pop("alerts", None)
        return out


def cross_field_error(field: str, message: str) -> PydanticCustomError:
    """An error for a rule spanning two fields, reported at `field` with rule `order`.

    Such rules (an end after its start) cannot be written in JSON Schema; the published
    documents describe them in prose and the decoder enforces them.
    """
    return PydanticCustomError("order", message, {"field": field})
