"""Who took part in what: sign-ups, withdrawals, attendance, verified hours, no-shows, walk-ins.

Each (volunteer, opportunity) pair gets a timeline whose times strictly increase
(sign-up < withdrawal < re-sign-up < check-in < re-scan < check-out < verification <
correction), and its final state is recorded as the timeline is drawn: the state is what
"latest time wins" over those events must reproduce.
"""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

from producers.simulator import vocab as v
from producers.simulator.model import HOUR, Opportunity, Pair, SimConfig, Volunteer

ACTIVE_SHARE = 0.35  # volunteers who sign up for something in the window
SIGNUPS_PER_ACTIVE = v.Weighted((1, 2, 3, 4, 5), (40, 30, 15, 10, 5))  # mean 2.1
WALK_IN_SHARE_ACTIVE, WALK_IN_SHARE_OTHERS = 0.06, 0.02
OWN_MUNICIPALITY_SHARE = 0.7
WITHDRAW_SHARE, RESIGN_SHARE = 0.10, 0.15
NO_SHOW_SHARE, PAPER_ONLY_SHARE = 0.15, 0.02  # paper: hours verified, never checked in
RESCAN_SHARE, CHECK_OUT_SHARE, SECOND_CHECK_OUT_SHARE = 0.03, 0.92, 0.02
VERIFY_SHARE, CORRECTION_SHARE = 0.90, 0.06
PICK_TRIES = 4


def generate_pairs(
    rng: random.Random,
    config: SimConfig,
    opportunities: list[Opportunity],
    volunteers: list[Volunteer],
) -> list[Pair]:
    """Every pair of the world, volunteer by volunteer, in a seed-determined order."""
    if not opportunities:
        return []
    by_municipality: dict[str, list[Opportunity]] = defaultdict(list)
    for opportunity in opportunities:
        by_municipality[opportunity.municipality].append(opportunity)
    load: dict[str, int] = defaultdict(int)  # places taken when each sign-up happened
    pairs: list[Pair] = []
    as_of = config.as_of
    for volunteer in volunteers:
        age = config.until.year - volunteer.birth_year
        local = by_municipality.get(volunteer.municipality) or opportunities
        taken: set[str] = set()
        active = rng.random() < ACTIVE_SHARE
        wanted = SIGNUPS_PER_ACTIVE.draw(rng) if active else 0
        for _ in range(wanted):
            opportunity = _pick(rng, local, opportunities, age, taken, load)
            if opportunity is None:
                continue
            waitlisted = load[opportunity.opportunity_id] >= opportunity.capacity
            pair = _signed_up(rng, volunteer, opportunity, waitlisted, as_of)
            if pair is not None:
                taken.add(opportunity.opportunity_id)
                load[opportunity.opportunity_id] += 1
                pairs.append(pair)
        walk_in_share = WALK_IN_SHARE_ACTIVE if active else WALK_IN_SHARE_OTHERS
        if rng.random() < walk_in_share:
            opportunity = _pick(rng, local, opportunities, age, taken, None)
            if opportunity is not None and opportunity.cancelled is None:
                pair = _pair(volunteer, opportunity)
                _attend(rng, pair, opportunity, as_of, walk_in=True)
                pairs.append(pair)
    return pairs


def _pick(
    rng: random.Random,
    local: list[Opportunity],
    everywhere: list[Opportunity],
    age: int,
    taken: set[str],
    load: dict[str, int] | None,
) -> Opportunity | None:
    """An opportunity near home (usually) the volunteer is old enough for; full ones rarely."""
    for attempt in range(PICK_TRIES):
        pool = local if rng.random() < OWN_MUNICIPALITY_SHARE else everywhere
        opportunity = rng.choice(pool)
        if opportunity.opportunity_id in taken or age < opportunity.min_age:
            continue
        full = load is not None and load[opportunity.opportunity_id] >= opportunity.capacity
        if full and attempt < PICK_TRIES - 1:
            continue
        return opportunity
    return None


def _pair(volunteer: Volunteer, opportunity: Opportunity) -> Pair:
    return Pair(volunteer.volunteer_id, opportunity.opportunity_id, opportunity.campaign_id)


def _emit(pair: Pair, time: int, event_type: str, **extra: Any) -> None:
    pair.events.append((time, event_type, extra))


def _signed_up(
    rng: random.Random, volunteer: Volunteer, opportunity: Opportunity, waitlisted: bool, as_of: int
) -> Pair | None:
    """A sign-up, maybe withdrawn (and maybe taken again), then attendance if placed.

    None when sign-ups had closed before the volunteer registered.
    """
    low = max(opportunity.published_at, volunteer.registered_at) + 60
    high = opportunity.starts_at - HOUR  # sign-ups close an hour before the shift
    if opportunity.cancelled is not None:
        high = min(high, opportunity.cancelled[0] - 60)
    if high - 600 < low:
        return None
    pair = _pair(volunteer, opportunity)
    signed = rng.randint(low, high - 600)
    _emit(pair, signed, "volunteer.signed_up")
    pair.signup_status = "signed_up"
    if rng.random() < WITHDRAW_SHARE:
        withdrawn = rng.randint(signed + 1, max(signed + 1, high - 300))
        _emit(pair, withdrawn, "volunteer.signup_withdrawn")
        pair.signup_status = "withdrawn"
        if rng.random() >= RESIGN_SHARE:
            return pair
        again = rng.randint(withdrawn + 1, max(withdrawn + 1, high))
        _emit(pair, again, "volunteer.signed_up")
        pair.signup_status = "signed_up"
    if opportunity.cancelled is None and not waitlisted:
        _attend(rng, pair, opportunity, as_of, walk_in=False)
    return pair


def _attend(
    rng: random.Random, pair: Pair, opportunity: Opportunity, as_of: int, *, walk_in: bool
) -> None:
    """The shift itself: a no-show, hours on paper only, or check-in/out and verification."""
    starts, ends = opportunity.starts_at, opportunity.ends_at
    if not walk_in and rng.random() < NO_SHOW_SHARE:
        marked = ends + rng.randint(HOUR, 3 * HOUR)
        if marked <= as_of:  # organisers mark no-shows after the shift
            _emit(pair, marked, "volunteer.no_show")
            pair.no_show = True
        return
    if not walk_in and rng.random() < PAPER_ONLY_SHARE:
        _verify(rng, pair, round((ends - starts) / HOUR * 4) / 4, ends, as_of)
        return
    checked_in = starts + rng.randint(-20 * 60, 30 * 60)
    method = v.CHECK_IN_METHOD.draw(rng)
    _emit(pair, checked_in, "volunteer.checked_in", at=checked_in, method=method)
    pair.checked_in_at = checked_in
    last = checked_in
    if rng.random() < RESCAN_SHARE:  # a second scan later: the earliest still counts
        last = checked_in + rng.randint(60, 600)
        _emit(pair, last, "volunteer.checked_in", at=last, method=method)
    left = None
    if rng.random() < CHECK_OUT_SHARE:
        left = max(ends + rng.randint(-30 * 60, 30 * 60), last + 600)
        _emit(pair, left, "volunteer.checked_out", at=left)
        if rng.random() < SECOND_CHECK_OUT_SHARE:  # the latest check-out counts
            left += rng.randint(60, 900)
            _emit(pair, left, "volunteer.checked_out", at=left)
        pair.checked_out_at = left
    if rng.random() < VERIFY_SHARE:
        hours = round(((left or ends) - checked_in) / HOUR * 4) / 4
        _verify(rng, pair, hours, max(left or ends, last), as_of)


def _verify(rng: random.Random, pair: Pair, hours: float, after: int, as_of: int) -> None:
    """Hours confirmed a while after the shift, sometimes corrected later; pending past as_of."""
    hours = min(24.0, max(0.25, hours))
    verified = after + rng.randint(HOUR, 36 * HOUR)
    if verified > as_of:
        return
    verifier = f"staff-{pair.campaign_id}"
    _emit(pair, verified, "volunteer.hours_verified", hours=hours, verified_by=verifier)
    pair.hours, pair.first_verified_at = hours, verified
    if rng.random() < CORRECTION_SHARE:
        corrected_at = verified + rng.randint(HOUR, 72 * HOUR)
        if corrected_at <= as_of:
            corrected = min(24.0, max(0.25, hours + rng.choice((-1.0, -0.5, -0.25, 0.25, 0.5))))
            _emit(
                pair,
                corrected_at,
                "volunteer.hours_verified",
                hours=corrected,
                verified_by=verifier,
            )
            pair.hours = corrected
