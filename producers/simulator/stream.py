"""The simulation as a stream: events in time order, generated day by day in bounded memory.

Organisations, campaigns and volunteers come first (volunteers as arrays, `population.py`);
then each day of the window gets its shifts and the pairs that fill them (`activity.py`).
A pair's events reach from two weeks before its shift (publication, sign-up) to a few days
after (verification, correction), so events wait in per-day buckets and a day is sorted
and sent once no later shift can add to it: at most ~20 days of events are held, whatever
the number of days or volunteers. The truth accumulates as pairs are drawn (`tally.py`).
Ids are `sim-<seed>-<n>`, numbered in send order; ties in time keep generation order.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

from producers.simulator import vocab as v
from producers.simulator.activity import draw_count, expected_signups, pairs_of_day
from producers.simulator.events import DATASCHEMA, REGISTRY_SOURCE
from producers.simulator.generate import opportunities_of_day, orgs_and_campaigns
from producers.simulator.model import DAY, SimConfig, World, day_of, rfc3339
from producers.simulator.population import build_population
from producers.simulator.tally import Tally

REGISTERED = "volunteer.registered"
LOOKAHEAD_DAYS = 15  # a shift's first event (its publication) is at most 14 days before it
# A waiting event is one int: (time, generation order, what) packed so that ints sort in
# send order. "What" names a pair event completely (type, volunteer, opportunity, check-in
# method or quarter-hours: `at` is the event's own time, the verifier follows from the
# campaign), so ~20 days of a national stream wait in ~50 bytes an event; the few other
# events keep their data aside, under their generation order.
SEQ_BITS, CODE_BITS, CODE_MASK, SEQ_MASK = 32, 64, (1 << 64) - 1, (1 << 32) - 1
GENERIC, REGISTRATION = 0, 1
CODES = {REGISTERED: REGISTRATION, "volunteer.signed_up": 2, "volunteer.signup_withdrawn": 3,
         "volunteer.checked_in": 4, "volunteer.checked_out": 5,
         "volunteer.hours_verified": 6, "volunteer.no_show": 7}  # fmt: skip
TYPES = {code: event_type for event_type, code in CODES.items()}
CHECKED_IN, CHECKED_OUT = CODES["volunteer.checked_in"], CODES["volunteer.checked_out"]
HOURS_VERIFIED = CODES["volunteer.hours_verified"]
METHOD = {method: k for k, method in enumerate(v.CHECK_IN_METHODS)}


class Stream:
    """One simulation, generated as it is read: iterate `events()` once, then ask `tally`.

    With `keep_world` the world model (`World`) is kept too, for small runs and tests.
    """

    def __init__(self, config: SimConfig, *, keep_world: bool = False) -> None:
        if config.volunteers >= 1 << 24:
            msg = (
                f"at most {(1 << 24) - 1:,} volunteers can be simulated, not {config.volunteers:,}"
            )
            raise ValueError(msg)
        self.config = config
        self.world = World(config) if keep_world else None
        self.rng = random.Random(config.seed)
        self.buckets: dict[int, list[int]] = {}
        self.aside: dict[int, tuple[str, str, str, dict[str, Any]]] = {}  # seq -> other events
        self.seq = 0
        self.emitted = 0
        self.prefix = f"sim-{config.seed}-"
        self.orgs, self.campaigns = orgs_and_campaigns(self.rng, config)
        self.source = [f"partner/{c.org_id}" for c in self.campaigns]
        self.campaign_ids = [c.campaign_id for c in self.campaigns]
        keep = self.world.volunteers if self.world is not None else None
        self._setup_entities()
        self.pop = build_population(self.rng, config, self._add_entity, keep)
        for i, registered in enumerate(self.pop.registered_at):
            self._add_code(registered, (i << 12) | REGISTRATION)
        self.tally = Tally(config, self.orgs, self.campaigns, self.pop)
        if self.world is not None:
            self.world.orgs, self.world.campaigns = self.orgs, self.campaigns

    def _add_code(self, at: int, code: int) -> None:
        """Queue an event for its day: code = ((opportunity << 24 | volunteer) << 8 | x) << 4 | type."""
        entry = ((at << SEQ_BITS | self.seq) << CODE_BITS) | code
        self.seq += 1
        bucket = self.buckets.get(at // DAY)
        if bucket is None:
            self.buckets[at // DAY] = [entry]
        else:
            bucket.append(entry)

    def _add(self, at: int, event_type: str, subject: str, source: str, data: Any) -> None:
        """Queue an event that is not a pair's or a registration (its data waits aside)."""
        self.aside[self.seq] = (event_type, subject, source, data)
        self._add_code(at, GENERIC)

    def _add_entity(self, at: int, event_type: str, subject: str, data: dict[str, Any]) -> None:
        source = REGISTRY_SOURCE if event_type.startswith("volunteer.") else f"partner/{subject}"
        self._add(at, event_type, subject, source, data)

    def _setup_entities(self) -> None:
        add = self._add
        for org in self.orgs:
            source = f"partner/{org.org_id}"
            data = {"org_id": org.org_id, "name_ar": org.name_ar, "name_en": org.name_en,
                    "sector": org.sector}  # fmt: skip
            add(org.registered_at, "organization.registered", org.org_id, source, data)
            if org.suspended:
                at, reason = org.suspended
                data = {"org_id": org.org_id, "reason": reason}
                add(at, "organization.suspended", org.org_id, source, data)
        for c, source in zip(self.campaigns, self.source, strict=True):
            cid = c.campaign_id
            add(c.launched_at, "campaign.launched", cid, source, {
                "campaign_id": cid, "org_id": c.org_id, "title_ar": c.title_ar,
                "title_en": c.title_en, "kind": c.kind, "municipality": c.municipality,
                "starts_on": c.starts_on.isoformat(), "ends_on": c.ends_on.isoformat(),
                "target_volunteers": c.target_volunteers, "target_hours": c.target_hours,
            })  # fmt: skip
            for at, changes in c.updates:
                add(at, "campaign.updated", cid, source, {"campaign_id": cid, **changes})
            if c.closed:
                at, reason = c.closed
                add(at, "campaign.closed", cid, source, {"campaign_id": cid, "reason": reason})

    def events(self) -> Iterator[dict[str, Any]]:
        """Every event as an envelope dict, in time order (generation order within a second)."""
        config, first_day = self.config, config_first_day(self.config)
        flushed = min(self.buckets, default=first_day) - 1
        for d in range(config.days):
            day = first_day + d
            yield from self._flush(flushed + 1, day - LOOKAHEAD_DAYS)
            flushed = max(flushed, day - LOOKAHEAD_DAYS)
            self._generate_day(day * DAY)
        yield from self._flush(flushed + 1, max(self.buckets, default=flushed))

    def _flush(self, first: int, last: int) -> Iterator[dict[str, Any]]:
        for day in range(first, last + 1):
            entries = self.buckets.pop(day, None)
            self.tally.close_day(day)
            if not entries:
                continue
            entries.sort()
            for entry in entries:
                yield self._render(entry)

    def _generate_day(self, day_start: int) -> None:
        rng, config, pop, tally = self.rng, self.config, self.pop, self.tally
        signups = draw_count(rng, expected_signups(config, pop, day_of(day_start)))
        first = len(tally.opp_campaign)
        opportunities = opportunities_of_day(rng, config, self.campaigns, day_start, signups, first)
        add = self._add
        for o in opportunities:
            j = tally.add_opportunity(o)
            k = tally.opp_campaign[j]
            source, cid = self.source[k], o.campaign_id
            add(o.published_at, "opportunity.published", cid, source, {
                "opportunity_id": o.opportunity_id, "campaign_id": cid, "title_ar": o.title_ar,
                "title_en": o.title_en, "starts_at": rfc3339(o.starts_at),
                "ends_at": rfc3339(o.ends_at), "capacity": o.capacity,
                "municipality": o.municipality, "min_age": o.min_age,
            })  # fmt: skip
            if o.cancelled:
                at, reason = o.cancelled
                data = {"opportunity_id": o.opportunity_id, "campaign_id": cid, "reason": reason}
                add(at, "opportunity.cancelled", cid, source, data)
        if self.world is not None:
            self.world.opportunities.extend(opportunities)
        add_code = self._add_code
        for pair, i, k in pairs_of_day(rng, config, pop, opportunities, signups):
            j = first + k
            who = j << 24 | i
            for at, event_type, extra in pair.events:
                code = CODES[event_type]
                if code == CHECKED_IN:
                    code |= METHOD[extra["method"]] << 4
                elif code == HOURS_VERIFIED:
                    code |= int(extra["hours"] * 4) << 4
                add_code(at, (who << 12) | code)
            tally.add_pair(pair, i, j)
            if self.world is not None:
                self.world.pairs.append(pair)

    def _render(self, entry: int) -> dict[str, Any]:
        key, code = entry >> CODE_BITS, entry & CODE_MASK
        kind = code & 15
        if kind == GENERIC:
            event_type, subject, source, data = self.aside.pop(key & SEQ_MASK)
        elif kind == REGISTRATION:
            event_type, data = REGISTERED, self.pop.registration(code >> 12)
            subject, source = data["volunteer_id"], REGISTRY_SOURCE
        else:
            event_type, x, i, j = (
                TYPES[kind],
                (code >> 4) & 255,
                (code >> 12) & 0xFFFFFF,
                code >> 36,
            )
            subject = f"vol-{i + 1:06d}"  # population.volunteer_id, inlined: the hot path
            k = self.tally.opp_campaign[j]
            source, campaign_id = self.source[k], self.campaign_ids[k]
            data = {"volunteer_id": subject, "opportunity_id": f"opp-{j + 1:06d}",
                    "campaign_id": campaign_id}  # fmt: skip
            if kind == CHECKED_IN:
                data["at"], data["method"] = rfc3339(key >> SEQ_BITS), v.CHECK_IN_METHODS[x]
            elif kind == CHECKED_OUT:
                data["at"] = rfc3339(key >> SEQ_BITS)
            elif kind == HOURS_VERIFIED:
                data["hours"], data["verified_by"] = x / 4, f"staff-{campaign_id}"
        self.emitted += 1
        return {
            "specversion": "1.0",
            "id": f"{self.prefix}{self.emitted}",
            "source": source,
            "type": event_type,
            "subject": subject,
            "time": rfc3339(key >> SEQ_BITS),
            "datacontenttype": "application/json",
            "dataschema": DATASCHEMA[event_type],
            "data": data,
        }


def config_first_day(config: SimConfig) -> int:
    """The epoch day number of the window's first day."""
    return config.window_start // DAY
