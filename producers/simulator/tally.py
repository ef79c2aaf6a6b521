"""The ground truth, accumulated pair by pair while the stream is generated.

The same document as `truth.ground_truth(world)` (the definitions are there and in the
README), without keeping the world: counts per volunteer, opportunity and campaign in
compact arrays, who attended each campaign and organisation in bitmaps, and the trailing
12-month activity as day intervals, so memory grows with the entities, never with the
events. Hours are multiples of a quarter, so their float sums are exact in any order and
the two computations agree to the byte (tests/unit/simulator/test_streamed.py).
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from typing import Any

from producers.simulator import vocab as v
from producers.simulator.model import DAY, Campaign, Opportunity, Org, Pair, SimConfig
from producers.simulator.population import Population, volunteer_id
from producers.simulator.truth import AGE_BANDS, KPI_WINDOW, age_band, iso, monthly_ends

COUNTS = ("signups", "withdrawals", "check_ins", "no_shows")


def _zeros(code: str, n: int) -> array[Any]:
    return array(code, bytes(array(code).itemsize * n))


class Counts:
    """Sign-ups, withdrawals, check-ins, no-shows and verified hours of a set of rows."""

    def __init__(self, n: int = 0) -> None:
        self.columns = [_zeros("I", n) for _ in COUNTS]
        self.pairs = _zeros("I", n)
        self.hours = _zeros("d", n)

    def grow(self) -> None:
        for column in self.columns:
            column.append(0)
        self.pairs.append(0)
        self.hours.append(0.0)

    def hours_of(self, rows: Any) -> float | int:
        """Rounded verified hours of `rows`; the integer 0 when they have no pair at all, as
        `round(sum(()), 2)` is in the world-model truth (the bytes must agree)."""
        rows = list(rows)
        if not any(self.pairs[r] for r in rows):
            return 0
        return round(sum(self.hours[r] for r in rows), 2)

    def add(self, row: int, pair: Pair) -> None:
        signups, withdrawals, check_ins, no_shows = self.columns
        signups[row] += pair.signup_status == "signed_up"
        withdrawals[row] += pair.signup_status == "withdrawn"
        check_ins[row] += pair.checked_in_at is not None
        no_shows[row] += pair.counts_no_show
        self.pairs[row] += 1
        self.hours[row] += pair.hours or 0.0

    def row(self, row: int) -> dict[str, Any]:
        counts = {name: column[row] for name, column in zip(COUNTS, self.columns, strict=True)}
        return {**counts, "verified_hours": self.hours_of((row,))}


class Bitmap:
    """One bit per (row, volunteer): who attended a campaign or an organisation."""

    def __init__(self, rows: int, volunteers: int) -> None:
        self.width = (volunteers + 7) // 8
        self.bits = bytearray(rows * self.width)

    def set(self, row: int, volunteer: int) -> None:
        self.bits[row * self.width + (volunteer >> 3)] |= 1 << (volunteer & 7)

    def row(self, row: int) -> int:
        start = row * self.width
        return int.from_bytes(self.bits[start : start + self.width], "little")


class Tally:
    """The truth of a stream in progress: `add_opportunity`, `add_pair`, `close_day`."""

    def __init__(
        self, config: SimConfig, orgs: list[Org], campaigns: list[Campaign], pop: Population
    ) -> None:
        self.config, self.orgs, self.campaigns, self.pop = config, orgs, campaigns, pop
        n = config.volunteers
        self.campaign_index = {c.campaign_id: k for k, c in enumerate(campaigns)}
        org_index = {o.org_id: k for k, o in enumerate(orgs)}
        self.org_of = [org_index[c.org_id] for c in campaigns]
        self.campaign_counts = Counts(len(campaigns))
        self.campaign_attended = Bitmap(len(campaigns), n)
        self.org_attended = Bitmap(len(orgs), n)
        self.opp_campaign, self.opp_capacity = array("I"), array("I")
        self.opp_cancelled = bytearray()
        self.opp_day = array("i")  # the epoch day of each shift
        self.opp_counts = Counts()
        self.vol_counts = Counts(n)
        self.vol_attended, self.vol_pairs = _zeros("I", n), self.vol_counts.pairs
        self.first, self.last = _zeros("q", n), _zeros("q", n)  # 0: no activity
        self.covered = array("q", [-(1 << 40)]) * n  # last day counted active, per volunteer
        self.pending: dict[int, list[int]] = defaultdict(list)  # activity day -> volunteers
        self.coverage: dict[int, int] = defaultdict(int)  # day -> change in active count
        self.hours_trailing = 0.0
        self.first_activity = 0
        self.as_of = config.as_of

    def add_opportunity(self, opportunity: Opportunity) -> int:
        """Register a new opportunity; its index in the truth."""
        self.opp_campaign.append(self.campaign_index[opportunity.campaign_id])
        self.opp_capacity.append(opportunity.capacity)
        self.opp_cancelled.append(opportunity.cancelled is not None)
        self.opp_day.append(opportunity.starts_at // DAY)
        self.opp_counts.grow()
        return len(self.opp_campaign) - 1

    def add_pair(self, pair: Pair, volunteer: int, opportunity: int) -> None:
        """Count one pair's final state everywhere it shows."""
        campaign = self.opp_campaign[opportunity]
        self.opp_counts.add(opportunity, pair)
        self.campaign_counts.add(campaign, pair)
        self.vol_counts.add(volunteer, pair)
        if not pair.attended:
            return
        self.vol_attended[volunteer] += 1
        self.campaign_attended.set(campaign, volunteer)
        self.org_attended.set(self.org_of[campaign], volunteer)
        at: int = pair.activity_time  # type: ignore[assignment]
        if self.first[volunteer] == 0 or at < self.first[volunteer]:
            self.first[volunteer] = at
        self.last[volunteer] = max(self.last[volunteer], at)
        if self.first_activity == 0 or at < self.first_activity:
            self.first_activity = at
        as_of = self.as_of
        if as_of - KPI_WINDOW < at <= as_of:
            self.hours_trailing += pair.hours or 0.0
        self.pending[at // DAY].append(volunteer)

    def close_day(self, day: int) -> None:
        """No more activity on `day` (days close in order): count who it makes active when.

        A volunteer active on day d counts at every month end in [d, d + 364]; counting
        each day at most once per volunteer needs the days in order, hence the wait.
        """
        window = KPI_WINDOW // DAY
        for volunteer in self.pending.pop(day, ()):
            low, high = max(day, self.covered[volunteer] + 1), day + window - 1
            if low <= high:
                self.coverage[low] += 1
                self.coverage[high + 1] -= 1
                self.covered[volunteer] = high

    def sections(self, stream: dict[str, Any]) -> dict[str, Any]:
        """The small sections of the truth; `opportunity_rows` and `volunteer_rows` stream."""
        c = self.config
        return {
            "parameters": {
                "seed": c.seed,
                "volunteers": c.volunteers,
                "days": c.days,
                "orgs": c.org_count,
                "campaigns": c.campaign_count,
                "until": c.until.isoformat(),
            },
            "campaigns": {
                camp.campaign_id: {
                    "org_id": camp.org_id,
                    "municipality": camp.municipality,
                    "status": camp.status,
                    **self.campaign_counts.row(k),
                    "volunteers_attended": self.campaign_attended.row(k).bit_count(),
                }
                for k, camp in enumerate(self.campaigns)
            },
            "organizations": self._organizations(),
            "participation": self._participation(),
            "stream": stream,
        }

    def opportunity_rows(self) -> Any:
        """(id, row) of every opportunity, in id order."""
        for j in _id_order(len(self.opp_campaign), "opp-{:06d}"):
            counts = self.opp_counts.row(j)
            capacity = self.opp_capacity[j]
            yield f"opp-{j + 1:06d}", {
                "campaign_id": self.campaigns[self.opp_campaign[j]].campaign_id,
                "capacity": capacity, "status": "cancelled" if self.opp_cancelled[j] else "active",
                **counts, "waitlisted": max(0, counts["signups"] - capacity),
            }  # fmt: skip

    def volunteer_rows(self) -> Any:
        """(id, row) of every volunteer with at least one pair, in id order."""
        for i in _id_order(self.config.volunteers, "vol-{:06d}"):
            if not self.vol_pairs[i]:
                continue
            counts = self.vol_counts.row(i)
            yield volunteer_id(i), {
                "signups": counts["signups"], "attended": self.vol_attended[i],
                "verified_hours": counts["verified_hours"], "no_shows": counts["no_shows"],
                "first_activity": iso(self.first[i] or None),
                "last_activity": iso(self.last[i] or None),
            }  # fmt: skip

    def volunteer_totals(self) -> dict[str, Any]:
        n, counts = self.config.volunteers, self.vol_counts
        signups, _withdrawals, _check_ins, no_shows = counts.columns
        return {
            "registered": n,
            "with_participation": sum(1 for i in range(n) if self.vol_pairs[i]),
            "signed_up": sum(1 for x in signups if x),
            "attended": sum(1 for x in self.vol_attended if x),
            "signups": sum(signups),
            "attended_pairs": sum(self.vol_attended),
            "no_shows": sum(no_shows),
            "verified_hours": self.campaign_counts.hours_of(range(len(self.campaigns))),
        }

    def _organizations(self) -> dict[str, Any]:
        campaigns_of: dict[int, list[int]] = defaultdict(list)
        for k, org in enumerate(self.org_of):
            campaigns_of[org].append(k)
        sectors = {s: {"organizations": 0, "campaigns": 0, "verified_hours": 0.0}
                   for s in v.SECTORS}  # fmt: skip
        engaged = dict.fromkeys(v.SECTORS, 0)
        by_id = {}
        for k, org in enumerate(self.orgs):
            hours = self.campaign_counts.hours_of(campaigns_of[k])
            attended = self.org_attended.row(k)
            by_id[org.org_id] = {"sector": org.sector, "status": org.status,
                                 "campaigns": len(campaigns_of[k]),
                                 "volunteers_engaged": attended.bit_count(),
                                 "verified_hours": hours}  # fmt: skip
            sector = sectors[org.sector]
            sector["organizations"] += 1
            sector["campaigns"] += len(campaigns_of[k])
            sector["verified_hours"] = round(sector["verified_hours"] + hours, 2)
            engaged[org.sector] |= attended
        for name, sector in sectors.items():
            sector["volunteers_engaged"] = engaged[name].bit_count()
        return {"by_id": by_id, "by_sector": sectors}

    def _participation(self) -> dict[str, Any]:
        as_of, pop = self.config.as_of, self.pop
        by: dict[str, dict[str, int]] = {
            "municipality": dict.fromkeys(v.MUNICIPALITIES, 0),
            "gender": dict.fromkeys(("female", "male"), 0),
            "age_band": dict.fromkeys([band for _, band in AGE_BANDS] + ["65+"], 0),
            "nationality_group": dict.fromkeys(("qatari", "resident"), 0),
        }
        year, active = self.config.until.year, 0
        for i, last in enumerate(self.last):
            if not last or last <= as_of - KPI_WINDOW:
                continue
            active += 1
            by["municipality"][v.MUNICIPALITIES[pop.current[i]]] += 1
            by["gender"]["female" if pop.female[i] else "male"] += 1
            by["age_band"][age_band(year - pop.birth_year[i])] += 1
            by["nationality_group"]["qatari" if pop.qatari[i] else "resident"] += 1
        return {
            "as_of": iso(as_of),
            "window_days": KPI_WINDOW // DAY,
            "active": active,
            "by": {d: dict(sorted(values.items())) for d, values in by.items()},
            "verified_hours_total": self.campaign_counts.hours_of(range(len(self.campaigns))),
            "verified_hours_trailing_12m": round(self.hours_trailing, 2),
            "monthly": self._monthly(),
        }

    def _monthly(self) -> list[dict[str, Any]]:
        if not self.first_activity:
            return []
        series, running, day = [], 0, min(self.coverage, default=0)
        for month, end in monthly_ends(self.first_activity, self.config.as_of):
            while day <= end // DAY:
                running += self.coverage.get(day, 0)
                day += 1
            series.append({"month": month, "active": running})
        return series


def _id_order(n: int, pattern: str) -> Any:
    """Indices in the order of their ids: numeric until the zero-padding runs out."""
    if n < 1_000_000:
        return range(n)
    return sorted(range(n), key=lambda i: pattern.format(i + 1))
