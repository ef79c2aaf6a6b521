"""The registered volunteers, one row of compact arrays each, and their non-activity events.

A national year has half a million registered volunteers: as objects they would hold
gigabytes, so what activity and truth need (age, gender, nationality group, home and
current municipality, registration time, how active) lives in arrays indexed by volunteer
(`vol-<index + 1>`). The personal fields (names, phone, email, language, consent) are drawn
from a generator of the volunteer's own (`person`), so a registration event is rendered
when it is sent and never held.
"""

from __future__ import annotations

import random
from array import array
from bisect import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from producers.simulator import vocab as v
from producers.simulator.model import DAY, HOUR, SimConfig, Volunteer

PROFILE_UPDATE_SHARE, CONSENT_CHANGE_SHARE = 0.08, 0.06
# How active an active volunteer is, relative to the mean: most do a few shifts a year,
# a committed few do many (mean 1.0).
ACTIVITY = v.Weighted((0.25, 0.5, 1.0, 2.0, 4.0), (30, 25, 24, 15, 6))
ACTIVITY_MEAN = sum(a * w for a, w in zip(ACTIVITY.values, (30, 25, 24, 15, 6), strict=True)) / 100

Schedule = Callable[[int, str, str, dict[str, Any]], None]  # (time, type, subject, data)


@dataclass(frozen=True, slots=True)
class Person:
    """A volunteer's personal fields, drawn from the volunteer's own seeded generator."""

    given_name: str
    family_name: str | None
    family: str
    phone: str
    email: str
    language: str
    consent: dict[str, bool]


def volunteer_id(index: int) -> str:
    """The id of the volunteer at `index`."""
    return f"vol-{index + 1:06d}"


def person(seed: int, index: int, female: bool, qatari: bool) -> Person:
    """The personal fields of volunteer `index`: the same for a seed, whenever asked."""
    rng = random.Random(seed * 10_000_019 + index)
    given = rng.choice(v.FEMALE_GIVEN if female else v.MALE_GIVEN)
    family = rng.choice(v.QATARI_FAMILY if qatari else v.RESIDENT_FAMILY)
    family_or_none = None if rng.random() < 0.03 else family
    language = "ar" if rng.random() < (0.9 if qatari else 0.4) else "en"
    consent = {"sms": rng.random() < 0.85, "email": rng.random() < 0.6}
    return Person(given, family_or_none, family, phone(rng), email(rng, given, family, index),
                  language, consent)  # fmt: skip


def phone(rng: random.Random) -> str:
    return f"+974{rng.choice(v.PHONE_PREFIXES)}{rng.randrange(10**7):07d}"


def email(rng: random.Random, given: str, family: str, i: int) -> str:
    return f"{given}.{family}{i + 1}@{rng.choice(v.EMAIL_DOMAINS)}".lower()


@dataclass(slots=True)
class Population:
    """Every registered volunteer as arrays; `active` and `weights` drive who takes part."""

    seed: int
    birth_year: array[int] = field(default_factory=lambda: array("H"))
    female: bytearray = field(default_factory=bytearray)
    qatari: bytearray = field(default_factory=bytearray)
    home: bytearray = field(default_factory=bytearray)  # municipality index at registration
    current: bytearray = field(default_factory=bytearray)  # latest municipality update wins
    registered_at: array[int] = field(default_factory=lambda: array("q"))
    active: list[int] = field(default_factory=list)  # indices of active volunteers
    cumulative: list[float] = field(default_factory=list)  # running sum of their weights

    def __len__(self) -> int:
        return len(self.birth_year)

    @property
    def total_weight(self) -> float:
        return self.cumulative[-1] if self.cumulative else 0.0

    def draw_active(self, rng: random.Random) -> int:
        """An active volunteer, the more active ones more often."""
        return self.active[bisect(self.cumulative, rng.random() * self.cumulative[-1])]

    def person(self, index: int) -> Person:
        return person(self.seed, index, bool(self.female[index]), bool(self.qatari[index]))

    def registration(self, index: int) -> dict[str, Any]:
        """The `volunteer.registered` data of volunteer `index`."""
        p = self.person(index)
        data: dict[str, Any] = {"volunteer_id": volunteer_id(index), "given_name": p.given_name}
        if p.family_name is not None:
            data["family_name"] = p.family_name
        data.update({
            "phone": p.phone, "email": p.email, "language": p.language,
            "birth_year": self.birth_year[index],
            "gender": "female" if self.female[index] else "male",
            "nationality_group": "qatari" if self.qatari[index] else "resident",
            "municipality": v.MUNICIPALITIES[self.home[index]], "consent": dict(p.consent),
        })  # fmt: skip
        return data


def build_population(
    rng: random.Random, config: SimConfig, schedule: Schedule, keep: list[Volunteer] | None
) -> Population:
    """Draw every volunteer; schedule their profile and consent changes (not registrations)."""
    pop = Population(config.seed)
    year, total = config.until.year, 0.0
    for i in range(config.volunteers):
        low, high = v.AGE_RANGE.draw(rng)
        female = rng.random() < 0.45
        qatari = rng.random() < v.QATARI_SHARE
        home = v.MUNICIPALITY_WEIGHTS_INDEX.draw(rng)
        registered = config.window_start - rng.randint(HOUR, 180 * DAY)
        pop.birth_year.append(year - rng.randint(low, high))
        pop.female.append(female)
        pop.qatari.append(qatari)
        pop.home.append(home)
        pop.current.append(home)
        pop.registered_at.append(registered)
        if rng.random() < config.active_share:
            total += ACTIVITY.draw(rng)
            pop.active.append(i)
            pop.cumulative.append(total)
        updates = (
            _profile_updates(rng, config, pop, i) if rng.random() < PROFILE_UPDATE_SHARE else []
        )
        consent_changes = []
        if rng.random() < CONSENT_CHANGE_SHARE:
            consent = {"sms": rng.random() < 0.7, "email": rng.random() < 0.7}
            consent_changes.append((rng.randint(registered + 60, config.as_of), consent))
        vid = volunteer_id(i)
        for at, changes in updates:
            schedule(at, "volunteer.profile_updated", vid, {"volunteer_id": vid, **changes})
        for at, consent in consent_changes:
            data = {"volunteer_id": vid, "consent": dict(consent)}
            schedule(at, "volunteer.consent_changed", vid, data)
        if keep is not None:
            keep.append(_volunteer(pop, i, updates, consent_changes))
    return pop


def _profile_updates(
    rng: random.Random, config: SimConfig, pop: Population, i: int
) -> list[tuple[int, dict[str, Any]]]:
    """One or two changes at distinct times; the current municipality follows the latest."""
    start = pop.registered_at[i] + 60
    times = sorted(rng.sample(range(start, config.as_of), rng.choice((1, 1, 2))))
    updates = []
    for t in times:
        kind = v.PROFILE_FIELD.draw(rng)
        changes: dict[str, Any]
        if kind == "municipality":
            moved = v.MUNICIPALITY_WEIGHTS_INDEX.draw(rng)
            pop.current[i] = moved
            changes = {"municipality": v.MUNICIPALITIES[moved]}
        elif kind == "language":
            changes = {"language": rng.choice(("ar", "en"))}
        elif kind == "phone":
            changes = {"phone": phone(rng)}
        else:
            names = pop.person(i)
            changes = {"email": email(rng, names.given_name, names.family, i)}
        updates.append((t, changes))
    return updates


def _volunteer(
    pop: Population,
    i: int,
    updates: list[tuple[int, dict[str, Any]]],
    consent_changes: list[tuple[int, dict[str, bool]]],
) -> Volunteer:
    """The world-model object of volunteer `i` (small runs and tests keep these)."""
    p = pop.person(i)
    return Volunteer(
        volunteer_id(i), p.given_name, p.family_name, p.phone, p.email, p.language,
        pop.birth_year[i], "female" if pop.female[i] else "male",
        "qatari" if pop.qatari[i] else "resident", v.MUNICIPALITIES[pop.home[i]],
        dict(p.consent), pop.registered_at[i], updates, consent_changes,
    )  # fmt: skip
