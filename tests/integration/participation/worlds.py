"""Seeded random worlds for the KPI projection: facts over years, delivered in any order.

Each world has a few dozen volunteers who register (some twice, with other details: the
later registration wins), move municipality, and take part in opportunities over about
two and a half years: check-ins (some repeated, the earliest wins), verified hours
(some corrected, the latest wins; without a check-in the first verification is the
activity time), check-outs, sign-ups and no-shows, which count for nothing. Instants
are drawn near the edges the KPI cuts at: Qatar midnight (21:00 UTC), UTC midnight and
month ends, a microsecond either side. `deliveries` shuffles them and cuts them into
batches, so facts arrive late and out of order.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from pydantic import BaseModel

from schemas.attendance import (
    VolunteerCheckedIn,
    VolunteerCheckedOut,
    VolunteerHoursVerified,
    VolunteerNoShow,
)
from schemas.common import CheckInMethod, Consent, Gender, Language, Municipality, NationalityGroup
from schemas.envelope import Event
from schemas.registry import new_event
from schemas.signups import VolunteerSignedUp
from schemas.volunteers import VolunteerProfileUpdated, VolunteerRegistered

SOURCE = "platform/admin"
MUNICIPALITIES = tuple(Municipality)[:4]
US = dt.timedelta(microseconds=1)


class World:
    """One random world: its events and the instants it was built around."""

    def __init__(self, seed: int, volunteers: int = 30) -> None:
        self.rng = random.Random(seed)
        start = dt.datetime(2022, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=self.rng.randint(0, 900))
        self.start, self.span = start, dt.timedelta(days=self.rng.choice((200, 500, 900)))
        self.events: list[Event[Any]] = []
        self.instants: list[dt.datetime] = []
        for v in range(volunteers):
            self._volunteer(f"vol-{v}")

    def _emit(self, payload: BaseModel, time: dt.datetime) -> None:
        n = len(self.events)
        self.events.append(new_event(payload, source=SOURCE, event_id=f"e-{n}", time=time))

    def instant(self) -> dt.datetime:
        """A moment in the world's span, often on an edge the KPI cuts at."""
        rng = self.rng
        day = self.start + dt.timedelta(days=rng.randrange(self.span.days))
        midnight = day.replace(hour=0, minute=0, second=0, microsecond=0)
        month_end = (midnight.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        edge = rng.choice(
            (midnight + dt.timedelta(hours=21), midnight, month_end, None, None, None)
        )
        if edge is None:
            moment = midnight + dt.timedelta(seconds=rng.randrange(86_400))
        else:
            moment = edge + rng.choice((-US, dt.timedelta(0), US))
        self.instants.append(moment)
        return moment

    def _register(self, vol: str, time: dt.datetime) -> None:
        rng = self.rng
        self._emit(
            VolunteerRegistered(
                volunteer_id=vol, given_name="Amna", family_name=None, phone="+97455501234",
                email="amna@example.qa", language=Language.AR,
                birth_year=rng.choice((1950, 1960, 1980, 1990, 2000, 2005, 2008)),
                gender=rng.choice(tuple(Gender)),
                nationality_group=rng.choice(tuple(NationalityGroup)),
                municipality=rng.choice(MUNICIPALITIES), consent=Consent(sms=False, email=False),
            ),
            time,
        )  # fmt: skip

    def _volunteer(self, vol: str) -> None:
        rng = self.rng
        for _ in range(rng.choice((0, 1, 1, 1, 2))):  # no profile: counted as unknown
            self._register(vol, self.instant())
        if rng.random() < 0.3:
            moved = VolunteerProfileUpdated(
                volunteer_id=vol, municipality=rng.choice(MUNICIPALITIES)
            )
            self._emit(moved, self.instant())
        for o in range(rng.choice((0, 1, 2, 3, 6))):
            self._pair(vol, f"opp-{o}-{rng.randrange(50)}")

    def _pair(self, vol: str, opp: str) -> None:
        rng, pair = self.rng, {"volunteer_id": vol, "opportunity_id": opp, "campaign_id": "cmp-1"}
        kind = rng.random()
        if kind < 0.15:  # never attended: counts for nothing
            self._emit(VolunteerSignedUp(**pair), self.instant())
            self._emit(VolunteerNoShow(**pair), self.instant())
            return
        if kind < 0.8:
            for _ in range(rng.choice((1, 1, 2))):
                checked_in = VolunteerCheckedIn(**pair, at=self.instant(), method=CheckInMethod.QR)
                self._emit(checked_in, self.instant())
            self._emit(VolunteerCheckedOut(**pair, at=self.instant()), self.instant())
        if kind >= 0.5:
            for _ in range(rng.choice((1, 1, 2, 3))):
                hours = rng.choice((0.5, 1.25, 2.0, 3.75, 8.0))
                verified = VolunteerHoursVerified(**pair, hours=hours, verified_by="staff-1")
                self._emit(verified, self.instant())

    def days(self, count: int) -> list[dt.date]:
        """Days to compare on: random ones and the edges of the world's activity (its
        days, 364 and 365 days later, year and month ends)."""
        qatar = dt.timezone(dt.timedelta(hours=3))
        edges = set()
        for moment in self.rng.sample(self.instants, min(len(self.instants), count)):
            day = moment.astimezone(qatar).date()
            edges |= {day - dt.timedelta(days=1), day, day + dt.timedelta(days=364),
                      day + dt.timedelta(days=365), dt.date(day.year, 12, 31),
                      dt.date(day.year + 1, 1, 1), day.replace(day=1)}  # fmt: skip
        first = self.start.date()
        randoms = {
            first + dt.timedelta(days=self.rng.randrange(self.span.days + 400))
            for _ in range(count)
        }
        return sorted(self.rng.sample(sorted(edges), min(len(edges), count)) + sorted(randoms))

    def deliveries(self, batches: int) -> list[list[Event[Any]]]:
        """The events shuffled, cut into about `batches` batches, a few delivered twice."""
        events = list(self.events)
        self.rng.shuffle(events)
        cuts = sorted(self.rng.sample(range(1, len(events)), min(batches, len(events) - 1)))
        out = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)], strict=True)]
        for _ in range(2):
            out.insert(self.rng.randrange(len(out) + 1), self.rng.choice(out))  # redelivered
        return out
