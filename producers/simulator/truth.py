"""The ground truth: what every read model must show, computed from the world model.

Not from the emitted events: the world's final state of each pair, campaign and
organisation is stated here with the read models' definitions (see
`consumers.participations` and the campaigns, volunteers, organizations and
participation SQL), so a projection that loses, repeats or misorders events disagrees.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from producers.simulator.model import DAY, Pair, World, epoch, rfc3339
from producers.simulator.vocab import MUNICIPALITIES, SECTORS

KPI_WINDOW = 365 * DAY
AGE_BANDS = ((18, "10-17"), (25, "18-24"), (35, "25-34"), (45, "35-44"), (55, "45-54"),
             (65, "55-64"))  # fmt: skip


def age_band(age: int) -> str:
    """The KPI's age band of an age in whole years (as_of year minus birth year)."""
    return next((band for limit, band in AGE_BANDS if age < limit), "65+")


def iso(seconds: int | None) -> str | None:
    """RFC 3339 UTC, or None."""
    return None if seconds is None else rfc3339(seconds)


def _hours(pairs: list[Pair]) -> float:
    return round(sum(p.hours or 0.0 for p in pairs), 2)


def _pair_counts(pairs: list[Pair]) -> dict[str, Any]:
    return {
        "signups": sum(p.signup_status == "signed_up" for p in pairs),
        "withdrawals": sum(p.signup_status == "withdrawn" for p in pairs),
        "check_ins": sum(p.checked_in_at is not None for p in pairs),
        "no_shows": sum(p.counts_no_show for p in pairs),
        "verified_hours": _hours(pairs),
    }


def ground_truth(world: World, stream: dict[str, Any] | None = None) -> dict[str, Any]:
    """The truth document (keys: producers/simulator/README.md)."""
    config = world.config
    by_campaign: dict[str, list[Pair]] = defaultdict(list)
    by_opportunity: dict[str, list[Pair]] = defaultdict(list)
    by_volunteer: dict[str, list[Pair]] = defaultdict(list)
    for pair in world.pairs:
        by_campaign[pair.campaign_id].append(pair)
        by_opportunity[pair.opportunity_id].append(pair)
        by_volunteer[pair.volunteer_id].append(pair)
    campaigns = {
        c.campaign_id: {
            "org_id": c.org_id,
            "municipality": c.municipality,
            "status": c.status,
            **_pair_counts(by_campaign[c.campaign_id]),
            "volunteers_attended": len(
                {p.volunteer_id for p in by_campaign[c.campaign_id] if p.attended}
            ),
        }
        for c in world.campaigns
    }
    opportunities = {}
    for o in world.opportunities:
        counts = _pair_counts(by_opportunity[o.opportunity_id])
        opportunities[o.opportunity_id] = {
            "campaign_id": o.campaign_id,
            "capacity": o.capacity,
            "status": o.status,
            **counts,
            "waitlisted": max(0, counts["signups"] - o.capacity),
        }
    return {
        "parameters": {
            "seed": config.seed,
            "volunteers": config.volunteers,
            "days": config.days,
            "orgs": config.org_count,
            "campaigns": config.campaign_count,
            "until": config.until.isoformat(),
        },
        "campaigns": campaigns,
        "opportunities": opportunities,
        "volunteers": _volunteers(world, by_volunteer),
        "organizations": _organizations(world, by_campaign),
        "participation": participation(world),
        "stream": stream or {},
    }


def _volunteers(world: World, by_volunteer: dict[str, list[Pair]]) -> dict[str, Any]:
    by_id = {}
    for vid in sorted(by_volunteer):
        pairs = by_volunteer[vid]
        times = [p.activity_time for p in pairs if p.attended]
        by_id[vid] = {
            "signups": sum(p.signup_status == "signed_up" for p in pairs),
            "attended": sum(p.attended for p in pairs),
            "verified_hours": _hours(pairs),
            "no_shows": sum(p.counts_no_show for p in pairs),
            "first_activity": iso(min(times)) if times else None,  # type: ignore[type-var]
            "last_activity": iso(max(times)) if times else None,  # type: ignore[type-var]
        }
    rows = by_id.values()
    totals = {
        "registered": len(world.volunteers),
        "with_participation": len(by_id),
        "signed_up": sum(r["signups"] > 0 for r in rows),
        "attended": sum(r["attended"] > 0 for r in rows),
        "signups": sum(r["signups"] for r in rows),
        "attended_pairs": sum(r["attended"] for r in rows),
        "no_shows": sum(r["no_shows"] for r in rows),
        "verified_hours": _hours(world.pairs),
    }
    return {"by_id": by_id, "totals": totals}


def _organizations(world: World, by_campaign: dict[str, list[Pair]]) -> dict[str, Any]:
    campaigns_of: dict[str, list[str]] = defaultdict(list)
    for c in world.campaigns:
        campaigns_of[c.org_id].append(c.campaign_id)
    by_id, engaged_by_sector = {}, defaultdict(set)
    sectors = {s: {"organizations": 0, "campaigns": 0, "verified_hours": 0.0} for s in SECTORS}
    for org in world.orgs:
        pairs = [p for cid in campaigns_of[org.org_id] for p in by_campaign[cid]]
        engaged = {p.volunteer_id for p in pairs if p.attended}
        by_id[org.org_id] = {
            "sector": org.sector,
            "status": org.status,
            "campaigns": len(campaigns_of[org.org_id]),
            "volunteers_engaged": len(engaged),
            "verified_hours": _hours(pairs),
        }
        sector = sectors[org.sector]
        sector["organizations"] += 1
        sector["campaigns"] += len(campaigns_of[org.org_id])
        sector["verified_hours"] = round(sector["verified_hours"] + _hours(pairs), 2)
        engaged_by_sector[org.sector] |= engaged
    for name, sector in sectors.items():
        sector["volunteers_engaged"] = len(engaged_by_sector[name])
    return {"by_id": by_id, "by_sector": sectors}


def participation(world: World) -> dict[str, Any]:
    """The national KPI's numerators: active volunteers in the 365 days up to as_of."""
    as_of = world.config.as_of
    activity: dict[str, list[int]] = defaultdict(list)
    hours_trailing = 0.0
    for p in world.pairs:
        if p.attended:
            activity[p.volunteer_id].append(p.activity_time)  # type: ignore[arg-type]
            if as_of - KPI_WINDOW < p.activity_time <= as_of:  # type: ignore[operator]
                hours_trailing += p.hours or 0.0
    profiles = {v.volunteer_id: v for v in world.volunteers}
    active = sorted(vid for vid, ts in activity.items() if any(_within(t, as_of) for t in ts))
    by: dict[str, dict[str, int]] = {
        "municipality": dict.fromkeys(MUNICIPALITIES, 0),
        "gender": dict.fromkeys(("female", "male"), 0),
        "age_band": dict.fromkeys([band for _, band in AGE_BANDS] + ["65+"], 0),
        "nationality_group": dict.fromkeys(("qatari", "resident"), 0),
    }
    year = world.config.until.year
    for vid in active:
        v = profiles[vid]
        cells = {"municipality": v.current_municipality, "gender": v.gender,
                 "age_band": age_band(year - v.birth_year), "nationality_group": v.nationality_group}  # fmt: skip
        for dimension, value in cells.items():
            by[dimension][value] += 1
    return {
        "as_of": iso(as_of),
        "window_days": KPI_WINDOW // DAY,
        "active": len(active),
        "by": {d: dict(sorted(values.items())) for d, values in by.items()},
        "verified_hours_total": _hours(world.pairs),
        "verified_hours_trailing_12m": round(hours_trailing, 2),
        "monthly": _monthly(activity, as_of),
    }


def _within(t: int, end: int) -> bool:
    return end - KPI_WINDOW < t <= end


def monthly_ends(first: int, as_of: int) -> list[tuple[str, int]]:
    """(YYYY-MM, last instant) of each month from `first`'s to as_of's (as_of for the last)."""
    month = dt.datetime.fromtimestamp(first, dt.UTC).date().replace(day=1)
    last, ends = dt.datetime.fromtimestamp(as_of, dt.UTC).date(), []
    while month <= last:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        ends.append((month.strftime("%Y-%m"), min(epoch(following) - 1, as_of)))
        month = following
    return ends


def _monthly(activity: dict[str, list[int]], as_of: int) -> list[dict[str, Any]]:
    """Active volunteers in the 12 months ending at each month's last instant (or as_of)."""
    if not activity:
        return []
    first = min(min(ts) for ts in activity.values())
    return [
        {
            "month": month,
            "active": sum(any(_within(t, end) for t in ts) for ts in activity.values()),
        }
        for month, end in monthly_ends(first, as_of)
    ]


def write_truth(truth: dict[str, Any], path: Path) -> None:
    """Write the truth as sorted, indented JSON: the same world gives the same bytes."""
    options = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    path.write_bytes(orjson.dumps(truth, option=options))


def write_sections(out: BinaryIO, sections: dict[str, Any], streamed: dict[str, Any]) -> None:
    """Write a truth document whose largest maps come as (key, value) iterators.

    `streamed` maps a path ("opportunities", "volunteers.by_id") to an iterator in key
    order; the bytes equal `write_truth` of the whole document, so the same seed gives the
    same file whichever way it was computed.
    """
    doc = {**sections, **{path: _Streamed(rows) for path, rows in streamed.items()}}
    _write_value(out, _nest(doc), 0)
    out.write(b"\n")


class _Streamed:
    def __init__(self, rows: Any) -> None:
        self.rows = rows


def _nest(doc: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for path, value in doc.items():
        head, _, rest = path.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            nested[head] = value
    return nested


def _write_value(out: BinaryIO, value: Any, depth: int) -> None:
    if isinstance(value, _Streamed):
        _write_pairs(out, value.rows, depth)
    elif isinstance(value, dict) and any(isinstance(x, (_Streamed, dict)) for x in value.values()):
        _write_pairs(out, iter(sorted(value.items())), depth)
    else:
        text = orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
        out.write(text.replace(b"\n", b"\n" + b"  " * depth))


def _write_pairs(out: BinaryIO, rows: Any, depth: int) -> None:
    """A JSON object from (key, value) pairs in key order, indented as orjson would."""
    inner = b"\n" + b"  " * (depth + 1)
    first = True
    for key, value in rows:
        out.write(b"{" + inner if first else b"," + inner)
        out.write(orjson.dumps(key) + b": ")
        _write_value(out, value, depth + 1)
        first = False
    out.write(b"{}" if first else b"\n" + b"  " * depth + b"}")
