"""Events on `tatawwu.volunteers`, keyed by `volunteer_id`.

`volunteer.registered` and `volunteer.profile_updated` are at version 2: a name is
`given_name` plus an optional `family_name` (absent for people with a single name).
Version 1 carried one `full_name`; its models stay here so that old records still decode,
and `schemas.upcasters` lifts them to version 2.
"""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from schemas.common import (
    BirthYear,
    Consent,
    Email,
    Gender,
    Id,
    Language,
    Municipality,
    NationalityGroup,
    NotClearable,
    Payload,
    PersonName,
    Phone,
    cross_field_error,
)
from schemas.personal import Personal, PersonalMark


class VolunteerRegistered(Payload):
    """A person registered as a volunteer (version 2)."""

    volunteer_id: Id
    given_name: Personal[PersonName]
    family_name: Personal[PersonName] | None = None
    phone: Personal[Phone]
    email: Personal[Email]
    language: Language
    birth_year: Personal[BirthYear]
    gender: Personal[Gender]
    nationality_group: Personal[NationalityGroup]
    municipality: Personal[Municipality]
    consent: Consent


class VolunteerProfileUpdated(Payload):
    """Some profile details changed; absent fields are unchanged (version 2).

    Only `family_name` can be cleared: null means the volunteer has no family name. Every
    other field is required at registration, so null is refused (rule `not_clearable`).
    The name changes as a whole: when `given_name` is present, a missing `family_name`
    means the volunteer now has none (as does `family_name: null`). `family_name` alone
    is therefore rejected.
    """

    volunteer_id: Id
    given_name: NotClearable[Personal[PersonName]] = None
    family_name: Personal[PersonName] | None = Field(
        default=None,
        description="Only with `given_name` (the name changes as a whole); then null or "
        "absent means the volunteer has no family name.",
    )
    phone: NotClearable[Personal[Phone]] = None
    email: NotClearable[Personal[Email]] = None
    language: NotClearable[Language] = None
    municipality: NotClearable[Personal[Municipality]] = None

    @model_validator(mode="after")
    def _family_name_needs_given_name(self) -> Self:
        # Presence, not value: matches the JSON Schema `dependentRequired` rule.
        if "family_name" in self.model_fields_set and "given_name" not in self.model_fields_set:
            raise cross_field_error("given_name", "family_name may only change with given_name")
        return self

    model_config = Payload.model_config | {
        "json_schema_extra": {"dependentRequired": {"family_name": ["given_name"]}}
    }


class VolunteerConsentChanged(Payload):
    """The volunteer's contact consent, complete as it now stands."""

    volunteer_id: Id
    consent: Consent


class VolunteerErased(Payload):
    """The volunteer asked to be forgotten: their data key is destroyed (platform only).

    Every personal field of theirs on the log is unreadable from then on (see
    `schemas/PERSONAL_DATA.md`); read models drop their personal columns, and the
    platform takes no personal data for them again.
    """

    volunteer_id: Id


class VolunteerRegisteredV1(Payload):
    """Version 1 of `volunteer.registered`: one `full_name`. Decoded, then upcast."""

    volunteer_id: Id
    full_name: PersonalMark[PersonName]
    phone: PersonalMark[Phone]
    email: PersonalMark[Email]
    language: Language
    birth_year: PersonalMark[BirthYear]
    gender: PersonalMark[Gender]
    nationality_group: PersonalMark[NationalityGroup]
    municipality: PersonalMark[Municipality]
    consent: Consent


class VolunteerProfileUpdatedV1(Payload):
    """Version 1 of `volunteer.profile_updated`: one optional `full_name`.

    Version 1 accepted null for every optional field and meant "unchanged" by it; records
    already in the log must keep decoding, so it still does, and the upcaster drops them.
    """

    volunteer_id: Id
    full_name: PersonalMark[PersonName] | None = None
    phone: PersonalMark[Phone] | None = None
    email: PersonalMark[Email] | None = None
    language: Language | None = None
    municipality: PersonalMark[Municipality] | None = None
