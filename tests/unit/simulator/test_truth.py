"""The ground truth: hand-checked on a tiny world, and agreeing with the read models' rules."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from consumers.campaigns.rules import fold_history
from consumers.organizations import fold_organization
from consumers.participations import PARTICIPATION_TYPES, fold_participations
from consumers.volunteers import fold_profile
from producers.simulator import SimConfig, Simulation, World, ground_truth
from producers.simulator.model import Campaign, Opportunity, Org, Pair, Volunteer
from schemas.envelope import Event

ENTITY_TYPES = ("campaign.", "opportunity.", "organization.", "volunteer.registered",
                "volunteer.profile_updated")  # fmt: skip


def ts(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp())


def volunteer(vid: str, gender: str, group: str, born: int, municipality: str) -> Volunteer:
    return Volunteer(vid, "Test", None, "+97455500000", f"{vid}@example.qa", "ar", born, gender,
                     group, municipality, {"sms": True, "email": True}, ts("2025-01-01T00:00:00"))  # fmt: skip


def tiny_world() -> World:
    """3 volunteers, 2 orgs, 2 campaigns, 3 opportunities, 8 pairs (see the hand counts)."""
    world = World(SimConfig(seed=1, volunteers=3, days=30, orgs=2, campaigns=2,
                            until=dt.date(2025, 6, 30)))  # fmt: skip
    day = dt.date(2025, 1, 1)
    world.orgs = [Org("org-1", "أ", "A", "nonprofit", 0),
                  Org("org-2", "ب", "B", "academic", 0, suspended=(1, "Review"))]  # fmt: skip
    world.campaigns = [
        Campaign("c-1", "org-1", "ت", "T", "volunteer_drive", "doha", day, day, 10, 10, 0),
        Campaign("c-2", "org-2", "ث", "U", "awareness", "al_khor", day, day, 10, 10, 0,
                 closed=(2, "cancelled")),
    ]  # fmt: skip
    world.opportunities = [
        Opportunity("o-1", "c-1", "x", "x", 0, 1, 2, "doha", 14, 0),
        Opportunity("o-2", "c-1", "x", "x", 0, 1, 5, "doha", 14, 0, cancelled=(1, "Rain")),
        Opportunity("o-3", "c-2", "x", "x", 0, 1, 1, "al_khor", 14, 0),
    ]
    v1 = volunteer("v-1", "female", "qatari", 2000, "doha")
    v1.updates = [(ts("2025-03-01T00:00:00"), {"language": "en"}),
                  (ts("2025-02-01T00:00:00"), {"municipality": "al_rayyan"})]  # fmt: skip
    world.volunteers = [v1, volunteer("v-2", "male", "resident", 2008, "al_wakrah"),
                        volunteer("v-3", "male", "resident", 1960, "doha")]  # fmt: skip
    world.pairs = [
        Pair("v-1", "o-1", "c-1", "signed_up", ts("2025-06-10T05:00:00"),
             ts("2025-06-10T09:00:00"), 3.5, ts("2025-06-11T10:00:00")),
        Pair("v-2", "o-1", "c-1", "signed_up", no_show=True),
        Pair("v-3", "o-1", "c-1", "signed_up"),
        Pair("v-1", "o-2", "c-1", "signed_up", ts("2025-06-15T05:00:00"), no_show=True),
        Pair("v-2", "o-2", "c-1", None, ts("2024-06-15T05:00:00")),
        Pair("v-1", "o-3", "c-2", None, ts("2025-06-20T06:00:00"), None, 2.0,
             ts("2025-06-21T06:00:00")),
        Pair("v-2", "o-3", "c-2", "withdrawn"),
        Pair("v-3", "o-3", "c-2", "signed_up", hours=4.0, first_verified_at=ts("2025-05-28T10:00:00")),
    ]  # fmt: skip
    return world


OPP_KEYS = ("signups", "withdrawals", "check_ins", "no_shows", "verified_hours", "waitlisted")
CAMPAIGN_KEYS = (*OPP_KEYS[:5], "volunteers_attended")
VOLUNTEER_KEYS = ("signups", "attended", "verified_hours", "no_shows", "first_activity",
                  "last_activity")  # fmt: skip
ORG_KEYS = ("sector", "status", "campaigns", "volunteers_engaged", "verified_hours")


def pick(row: dict[str, Any], keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(row[key] for key in keys)


def test_truth_of_a_tiny_hand_built_world_matches_hand_counts() -> None:
    """Every section of the truth for 8 hand-made pairs equals the numbers counted by hand."""
    truth = ground_truth(tiny_world())
    opp, cmp = truth["opportunities"], truth["campaigns"]
    assert pick(opp["o-1"], OPP_KEYS) == (3, 0, 1, 1, 3.5, 1)  # capacity 2: one waitlisted
    assert pick(opp["o-2"], OPP_KEYS) == (1, 0, 2, 0, 0.0, 0)  # a late check-in beats no-show
    assert pick(opp["o-3"], OPP_KEYS) == (1, 1, 1, 0, 6.0, 0)
    assert [opp[o]["status"] for o in ("o-1", "o-2", "o-3")] == ["active", "cancelled", "active"]
    assert pick(cmp["c-1"], CAMPAIGN_KEYS) == (4, 0, 3, 1, 3.5, 2)
    assert pick(cmp["c-2"], CAMPAIGN_KEYS) == (1, 1, 1, 0, 6.0, 2)
    assert (cmp["c-1"]["status"], cmp["c-2"]["status"]) == ("active", "cancelled")
    vols = truth["volunteers"]["by_id"]
    first, last = "2025-06-10T05:00:00Z", "2025-06-20T06:00:00Z"
    assert pick(vols["v-1"], VOLUNTEER_KEYS) == (2, 3, 5.5, 0, first, last)
    old = "2024-06-15T05:00:00Z"
    assert pick(vols["v-2"], VOLUNTEER_KEYS) == (1, 1, 0.0, 1, old, old)
    paper = "2025-05-28T10:00:00Z"  # hours without check-in: the verification time
    assert pick(vols["v-3"], VOLUNTEER_KEYS) == (2, 1, 4.0, 0, paper, paper)
    totals = truth["volunteers"]["totals"]
    assert pick(totals, ("registered", "signed_up", "attended", "signups", "attended_pairs",
                         "no_shows", "verified_hours")) == (3, 3, 3, 5, 5, 1, 9.5)  # fmt: skip
    orgs = truth["organizations"]
    assert pick(orgs["by_id"]["org-1"], ORG_KEYS) == ("nonprofit", "active", 1, 2, 3.5)
    assert pick(orgs["by_id"]["org-2"], ORG_KEYS) == ("academic", "suspended", 1, 2, 6.0)
    academic = orgs["by_sector"]["academic"]
    assert (*pick(academic, ORG_KEYS[2:]), academic["organizations"]) == (1, 2, 6.0, 1)
    assert orgs["by_sector"]["private"]["organizations"] == 0
    kpi = truth["participation"]
    assert kpi["as_of"] == "2025-06-30T23:59:59Z"
    assert kpi["active"] == 2  # v-2's only activity is more than 365 days old
    assert kpi["by"]["municipality"]["al_rayyan"] == kpi["by"]["municipality"]["doha"] == 1
    assert kpi["by"]["gender"] == {"female": 1, "male": 1}
    assert {band: n for band, n in kpi["by"]["age_band"].items() if n} == {"25-34": 1, "65+": 1}
    assert kpi["by"]["nationality_group"] == {"qatari": 1, "resident": 1}
    assert kpi["verified_hours_total"] == 9.5
    monthly = [(m["month"], m["active"]) for m in kpi["monthly"]]
    assert monthly[0] == ("2024-06", 1)
    assert len(monthly) == 13
    assert {active for _, active in monthly[:11]} == {1}
    assert monthly[11:] == [("2025-05", 2), ("2025-06", 2)]


def _stats(pairs: list[Any]) -> dict[str, Any]:
    """The campaigns read model's view definitions, applied to folded participations."""
    return {
        "signups": sum(p.signup_status == "signed_up" for p in pairs),
        "withdrawals": sum(p.signup_status == "withdrawn" for p in pairs),
        "check_ins": sum(p.checked_in_at is not None for p in pairs),
        "no_shows": sum(p.no_show and p.checked_in_at is None for p in pairs),
        "verified_hours": round(sum(p.hours or 0 for p in pairs), 2),
    }


def test_folding_the_stream_with_the_read_model_rules_reproduces_the_truth(
    sim: Simulation, unique_events: list[Event[Any]]
) -> None:
    """`fold_participations` over the unique valid events agrees with the truth's counts."""
    truth = sim.truth()
    folded = fold_participations(e for e in unique_events if e.type in PARTICIPATION_TYPES)
    assert len(folded) == len(sim.world.pairs)
    by_campaign: dict[str, list[Any]] = defaultdict(list)
    by_volunteer: dict[str, list[Any]] = defaultdict(list)
    for part in folded.values():
        by_campaign[part.campaign_id].append(part)
        by_volunteer[part.volunteer_id].append(part)
    for campaign_id, row in truth["campaigns"].items():
        parts = by_campaign[campaign_id]
        attended = {p.volunteer_id for p in parts if p.attended}
        assert {**_stats(parts), "volunteers_attended": len(attended)} == {
            k: row[k] for k in ("signups", "withdrawals", "check_ins", "no_shows",
                                "verified_hours", "volunteers_attended")}  # fmt: skip
    for volunteer_id, row in truth["volunteers"]["by_id"].items():
        parts = by_volunteer[volunteer_id]
        times = [p.activity_time for p in parts if p.attended]
        first = min(times).strftime("%Y-%m-%dT%H:%M:%SZ") if times else None
        assert (sum(p.attended for p in parts), first) == (row["attended"], row["first_activity"])
        assert _stats(parts)["verified_hours"] == row["verified_hours"]
    assert sum(truth["campaigns"][c]["signups"] for c in truth["campaigns"]) > 500


def test_entity_folds_agree_with_the_truth_statuses(
    sim: Simulation, unique_events: list[Event[Any]]
) -> None:
    """Campaign, opportunity and organisation statuses and home municipalities match the folds."""
    histories: dict[str, list[Any]] = defaultdict(list)
    for event in unique_events:
        if not event.type.startswith(ENTITY_TYPES):
            continue
        data = event.data.model_dump(mode="json", exclude_unset=True)
        entity = data.get("opportunity_id") if event.type.startswith("opportunity.") else None
        entity = entity or data.get("campaign_id") or data.get("org_id") or data["volunteer_id"]
        histories[entity].append((event.time, event.id, event.type, data))
    truth = sim.truth()
    for cid, row in truth["campaigns"].items():
        assert fold_history(histories[cid])["status"] == row["status"], cid
    for oid, row in truth["opportunities"].items():
        assert fold_history(histories[oid])["status"] == row["status"], oid
    for org_id, row in truth["organizations"]["by_id"].items():
        folded = fold_organization(histories[org_id])
        assert (folded["status"], folded["sector"]) == (row["status"], row["sector"])
    for v in sim.world.volunteers:
        assert fold_profile(histories[v.volunteer_id])["municipality"] == v.current_municipality
    statuses = {row["status"] for row in truth["campaigns"].values()}
    assert statuses == {"active", "closed", "cancelled"}
