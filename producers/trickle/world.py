"""The trickle's little world: partner organisations running today's shifts (pure, no I/O).

`LiveWorld.opening(now)` states the day as it stands when the trickle starts: its
organisations, a campaign in every municipality, today's opportunities (begun this
morning), and the volunteers already on site (registered and signed up days ago, so
that nobody is messaged about the past; checked in over the last two shifts).
`LiveWorld.step(now)` is then one more fact of the present, drawn among what can
happen next: a registration, a sign-up, a check-in, a check-out after a shift, the
organiser verifying the hours of a finished one. Every fact is one its `source` owns
(`schemas/ownership.py`), in the order its claims need, timed now (or in the past for
the opening). Personal data is invented (`producers.simulator.vocab`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from producers.simulator import vocab
from schemas.registry import CURRENT

DATASCHEMA = {event_type: spec.dataschema for event_type, spec in CURRENT.items()}
ORG_SECTORS = ("nonprofit", "government", "academic", "private", "community", "nonprofit")
STAGES = ("register", "sign_up", "check_in", "check_out", "verify")
VERIFY_AFTER = dt.timedelta(seconds=20)  # an organiser approves a finished shift's hours
Event = dict[str, Any]


def rfc3339(moment: dt.datetime) -> str:
    """UTC, to the millisecond, with a Z."""
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Opportunity:
    """Today's shift of a campaign: where, until when, how many seats are taken."""

    opportunity_id: str
    campaign_id: str
    org_id: str
    ends_at: dt.datetime
    capacity: int
    taken: int = 0


@dataclass
class Volunteer:
    """One invented volunteer and where they stand today."""

    volunteer_id: str
    opportunity: Opportunity | None = None
    checked_in: dt.datetime | None = None
    checked_out: dt.datetime | None = None


@dataclass
class LiveWorld:
    """Who is where; each call returns the CloudEvents of what just happened."""

    run: str
    seed: int = 0
    orgs: int = len(ORG_SECTORS)
    shift: dt.timedelta = dt.timedelta(minutes=45)
    rng: random.Random = field(init=False)
    serial: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    people: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    opportunities: list[Opportunity] = field(default_factory=list)
    registered: list[Volunteer] = field(default_factory=list)  # not signed up yet
    signed_up: list[Volunteer] = field(default_factory=list)  # not arrived yet
    on_site: deque[Volunteer] = field(default_factory=deque)  # in check-in order
    finished: deque[Volunteer] = field(default_factory=deque)  # hours not verified yet
    campaigns: list[tuple[str, str, str]] = field(default_factory=list)  # id, org, place

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}-{self.run}")

    @property
    def org_ids(self) -> list[str]:
        """Stable across runs: a restarted trickle speaks for the same organisations."""
        return [f"live-{ORG_SECTORS[n % len(ORG_SECTORS)]}-{n + 1}" for n in range(self.orgs)]

    # -- the opening ------------------------------------------------------------------
    def opening(self, now: dt.datetime, on_site: int) -> list[Event]:
        """The organisations, campaigns, today's opportunities and the volunteers on site."""
        events: list[Event] = []
        for n, org in enumerate(self.org_ids):
            sector = ORG_SECTORS[n % len(ORG_SECTORS)]
            kind_ar, kind_en = self.rng.choice(vocab.ORG_NAMES[sector])
            topic_ar, topic_en = vocab.ORG_TOPICS[n % len(vocab.ORG_TOPICS)]
            events.append(self._event("organization.registered", org, org, now - dt.timedelta(days=90), {
                "org_id": org, "name_ar": f"{kind_ar} {topic_ar}", "name_en": f"{kind_en} {topic_en}",
                "sector": sector,
            }))  # fmt: skip
        for n, municipality in enumerate(vocab.MUNICIPALITIES):
            org = self.org_ids[n % self.orgs]
            events += self._launch(org, municipality, now)
        for _ in range(on_site):
            volunteer, facts = self._register(
                now - dt.timedelta(days=3, minutes=self._minutes(600))
            )
            events += facts
            arrival = now - dt.timedelta(minutes=self._minutes(int(2 * self.shift.seconds / 60)))
            events += self._sign_up(
                volunteer, now - dt.timedelta(days=2, minutes=self._minutes(600))
            )
            if self.rng.random() < 0.85:  # most are already there; the rest arrive later
                self.signed_up.remove(volunteer)
                events += self._check_in(volunteer, arrival)
        self.on_site = deque(sorted(self.on_site, key=lambda v: v.checked_in or now))
        return events

    def _minutes(self, up_to: int) -> int:
        return self.rng.randint(1, max(1, up_to))

    def _launch(self, org: str, municipality: str, now: dt.datetime) -> list[Event]:
        theme_ar, theme_en = self.rng.choice(vocab.CAMPAIGN_THEMES)
        place_ar, place_en = vocab.MUNICIPALITY_NAMES[municipality]
        campaign = f"live-{self.run}-c{len(self.campaigns) + 1}"
        self.campaigns.append((campaign, org, municipality))
        launched = now - dt.timedelta(days=30)
        events = [self._event("campaign.launched", campaign, org, launched, {
            "campaign_id": campaign, "org_id": org, "title_ar": f"{theme_ar} — {place_ar}",
            "title_en": f"{theme_en} — {place_en}", "kind": "volunteer_drive",
            "municipality": municipality, "starts_on": launched.date().isoformat(),
            "ends_on": (now + dt.timedelta(days=60)).date().isoformat(),
            "target_volunteers": 5000, "target_hours": 20000,
        })]  # fmt: skip
        return events + self._publish(campaign, org, municipality, now)

    def _publish(self, campaign: str, org: str, municipality: str, now: dt.datetime,
                 published: dt.datetime | None = None) -> list[Event]:  # fmt: skip
        starts = (now - 2 * self.shift).replace(minute=0, second=0, microsecond=0)
        ends = starts + dt.timedelta(hours=10)
        opportunity = Opportunity(f"{campaign}-o{len(self.opportunities) + 1}", campaign, org,
                                  ends, self.rng.choice((600, 800, 1000)))  # fmt: skip
        self.opportunities.append(opportunity)
        shift_ar, shift_en = vocab.SHIFTS[len(self.opportunities) % len(vocab.SHIFTS)]
        published = published or now - dt.timedelta(days=4)
        return [self._event("opportunity.published", campaign, org, published, {
            "opportunity_id": opportunity.opportunity_id, "campaign_id": campaign,
            "title_ar": shift_ar, "title_en": shift_en, "starts_at": rfc3339(starts),
            "ends_at": rfc3339(ends), "capacity": opportunity.capacity,
            "municipality": municipality, "min_age": 14,
        })]  # fmt: skip

    # -- one step of the present ---------------------------------------------------------
    def step(self, now: dt.datetime) -> list[Event]:
        """One fact of the present (a new opportunity first when today's are full or ending)."""
        possible = ["register"]
        if self.registered:
            possible.append("sign_up")
        if self.signed_up:
            possible.append("check_in")
        if self.on_site and now - (self.on_site[0].checked_in or now) >= self.shift:
            possible.append("check_out")
        if self.finished and now - (self.finished[0].checked_out or now) >= VERIFY_AFTER:
            possible.append("verify")
        action = self.rng.choice(possible)
        if action == "register":
            return self._register(now)[1]
        if action == "sign_up":
            volunteer = self.registered[self.rng.randrange(len(self.registered))]
            return self._sign_up(volunteer, now)
        if action == "check_in":
            volunteer = self.signed_up.pop(self.rng.randrange(len(self.signed_up)))
            return self._check_in(volunteer, now)
        if action == "check_out":
            return self._check_out(self.on_site.popleft(), now)
        return self._verify(self.finished.popleft(), now)

    def _register(self, at: dt.datetime) -> tuple[Volunteer, list[Event]]:
        rng = self.rng
        volunteer = Volunteer(f"live-{self.run}-v{next(self.people)}")
        org = rng.choice(self.org_ids)
        qatari = rng.random() < vocab.QATARI_SHARE
        gender = rng.choice(("male", "female"))
        given = rng.choice(vocab.MALE_GIVEN if gender == "male" else vocab.FEMALE_GIVEN)
        family = rng.choice(vocab.QATARI_FAMILY if qatari else vocab.RESIDENT_FAMILY)
        low, high = vocab.AGE_RANGE.draw(rng)
        low = max(low, 15)  # every opportunity here takes 14 and over
        digits = f"{rng.choice(vocab.PHONE_PREFIXES)}{rng.randrange(10**7):07d}"
        self.registered.append(volunteer)
        return volunteer, [self._event("volunteer.registered", volunteer.volunteer_id, org, at, {
            "volunteer_id": volunteer.volunteer_id, "given_name": given, "family_name": family,
            "phone": f"+974{digits}",
            "email": f"{given.lower()}.{digits[-5:]}@{rng.choice(vocab.EMAIL_DOMAINS)}",
            "language": "ar" if qatari or rng.random() < 0.3 else "en",
            "birth_year": at.year - rng.randint(low, high), "gender": gender,
            "nationality_group": "qatari" if qatari else "resident",
            "municipality": vocab.MUNICIPALITY.draw(rng),
            "consent": {"sms": rng.random() < 0.8, "email": rng.random() < 0.9},
        })]  # fmt: skip

    def _open_opportunity(self, now: dt.datetime) -> tuple[Opportunity, list[Event]]:
        open_ = [o for o in self.opportunities
                 if o.taken < o.capacity and o.ends_at - now > self.shift]  # fmt: skip
        if open_:
            return self.rng.choice(open_), []
        campaign, org, municipality = self.rng.choice(self.campaigns)
        events = self._publish(campaign, org, municipality, now + 2 * self.shift, now)
        return self.opportunities[-1], events

    def _sign_up(self, volunteer: Volunteer, at: dt.datetime) -> list[Event]:
        opportunity, events = self._open_opportunity(at)
        opportunity.taken += 1
        volunteer.opportunity = opportunity
        self.registered.remove(volunteer)
        self.signed_up.append(volunteer)
        return [*events, self._participation("volunteer.signed_up", volunteer, at, {})]

    def _check_in(self, volunteer: Volunteer, at: dt.datetime) -> list[Event]:
        volunteer.checked_in = at
        self.on_site.append(volunteer)
        method = vocab.CHECK_IN_METHOD.draw(self.rng)
        return [self._participation("volunteer.checked_in", volunteer, at,
                                    {"at": rfc3339(at), "method": method})]  # fmt: skip

    def _check_out(self, volunteer: Volunteer, at: dt.datetime) -> list[Event]:
        volunteer.checked_out = at
        self.finished.append(volunteer)
        return [self._participation("volunteer.checked_out", volunteer, at, {"at": rfc3339(at)})]

    def _verify(self, volunteer: Volunteer, at: dt.datetime) -> list[Event]:
        assert volunteer.checked_in
        assert volunteer.checked_out
        spent = (volunteer.checked_out - volunteer.checked_in).total_seconds() / 3600
        hours = min(24.0, max(0.25, round(spent * 4) / 4))
        org = volunteer.opportunity.org_id if volunteer.opportunity else ""
        return [self._participation("volunteer.hours_verified", volunteer, at,
                                    {"hours": hours, "verified_by": f"staff-{org}"})]  # fmt: skip

    # -- envelopes --------------------------------------------------------------------
    def _participation(self, kind: str, volunteer: Volunteer, at: dt.datetime,
                       extra: dict[str, Any]) -> Event:  # fmt: skip
        opportunity = volunteer.opportunity
        assert opportunity is not None
        data = {"volunteer_id": volunteer.volunteer_id,
                "opportunity_id": opportunity.opportunity_id,
                "campaign_id": opportunity.campaign_id, **extra}  # fmt: skip
        return self._event(kind, volunteer.volunteer_id, opportunity.org_id, at, data)

    def _event(self, kind: str, subject: str, org: str, at: dt.datetime, data: Event) -> Event:
        return {
            "specversion": "1.0", "id": f"live-{self.run}-{next(self.serial)}",
            "source": f"partner/{org}", "type": kind, "subject": subject, "time": rfc3339(at),
            "datacontenttype": "application/json", "dataschema": DATASCHEMA[kind], "data": data,
        }  # fmt: skip


def org_of(event: Event) -> str:
    """The organisation an event speaks for (whose key posts it)."""
    return str(event["source"]).removeprefix("partner/")
