"""Who took part in what, day by day: sign-ups, withdrawals, attendance, hours, no-shows, walk-ins.

Each day's shifts are filled by sign-ups from the active volunteers (the more active ones
more often), as many as the calibrated intensity and the day's season ask for
(`calibration.py`). Each (volunteer, opportunity) pair gets a timeline whose times strictly
increase (sign-up < withdrawal < re-sign-up < check-in < re-scan < check-out < verification
< correction), and its final state is recorded as the timeline is drawn: the state is
what "latest time wins" over those events must reproduce.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from typing import Any

from producers.simulator import vocab as v
from producers.simulator.calibration import season_factor
from producers.simulator.model import HOUR, Opportunity, Pair, SimConfig
from producers.simulator.population import ACTIVITY_MEAN, Population, volunteer_id

# Sign-ups an active volunteer makes a year per verified hour asked for: measured so that
# the default intensity gives ~59 verified hours per active volunteer per year (withdrawals,
# no-shows, full and cancelled shifts, pending verifications all take their share).
SIGNUPS_PER_VERIFIED_HOUR = 0.39
WALK_INS_PER_SIGNUP = 0.05
OWN_MUNICIPALITY_SHARE = 0.7
WITHDRAW_SHARE, RESIGN_SHARE = 0.10, 0.15
NO_SHOW_SHARE, PAPER_ONLY_SHARE = 0.15, 0.02  # paper: hours verified, never checked in
RESCAN_SHARE, CHECK_OUT_SHARE, SECOND_CHECK_OUT_SHARE = 0.03, 0.92, 0.02
VERIFY_SHARE, CORRECTION_SHARE = 0.90, 0.06
PICK_TRIES = 4
Placed = tuple[Pair, int, int]  # (pair, volunteer index, position in the day's opportunities)


def _between(rng: random.Random, low: int, high: int) -> int:
    """`rng.randint(low, high)` at a fifth of the cost (the hot path draws ~10 per pair)."""
    return low + int(rng.random() * (high - low + 1))


def expected_signups(config: SimConfig, pop: Population, day: dt.date) -> float:
    """Sign-ups the active volunteers make for the shifts of `day`, on average."""
    per_weight = config.intensity * SIGNUPS_PER_VERIFIED_HOUR / ACTIVITY_MEAN / 365
    return pop.total_weight * per_weight * season_factor(day)


def draw_count(rng: random.Random, mean: float) -> int:
    """A count around `mean` (Poisson-like spread; exact Poisson when small)."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def pairs_of_day(
    rng: random.Random,
    config: SimConfig,
    pop: Population,
    opportunities: list[Opportunity],
    signups: int,
) -> list[Placed]:
    """The pairs of one day's shifts: `signups` sign-up attempts, then walk-ins."""
    if not opportunities or not pop.active:
        return []
    by_municipality: dict[str, list[int]] = defaultdict(list)
    for k, opportunity in enumerate(opportunities):
        by_municipality[opportunity.municipality].append(k)
    everywhere = list(range(len(opportunities)))
    load = [0] * len(opportunities)  # places taken when each sign-up happened
    taken: set[tuple[int, int]] = set()
    placed: list[Placed] = []
    year, as_of = config.until.year, config.as_of  # as_of is computed: read it once
    for _ in range(signups):
        i = pop.draw_active(rng)
        local = by_municipality.get(v.MUNICIPALITIES[pop.home[i]]) or everywhere
        k = _pick(rng, local, everywhere, opportunities, year - pop.birth_year[i], i, taken, load)
        if k is None:
            continue
        opportunity = opportunities[k]
        waitlisted = load[k] >= opportunity.capacity
        pair = _signed_up(rng, i, pop.registered_at[i], opportunity, waitlisted, as_of)
        if pair is not None:
            taken.add((i, k))
            load[k] += 1
            placed.append((pair, i, k))
    for _ in range(round(signups * WALK_INS_PER_SIGNUP)):
        i = pop.draw_active(rng)
        local = by_municipality.get(v.MUNICIPALITIES[pop.home[i]]) or everywhere
        k = _pick(rng, local, everywhere, opportunities, year - pop.birth_year[i], i, taken, None)
        if k is not None and opportunities[k].cancelled is None:
            pair = _pair(i, opportunities[k])
            _attend(rng, pair, opportunities[k], as_of, walk_in=True)
            taken.add((i, k))
            placed.append((pair, i, k))
    return placed


def _pick(
    rng: random.Random,
    local: list[int],
    everywhere: list[int],
    opportunities: list[Opportunity],
    age: int,
    volunteer: int,
    taken: set[tuple[int, int]],
    load: list[int] | None,
) -> int | None:
    """A shift near home (usually) the volunteer is old enough for; full ones rarely."""
    for attempt in range(PICK_TRIES):
        pool = local if rng.random() < OWN_MUNICIPALITY_SHARE else everywhere
        k = pool[int(rng.random() * len(pool))]
        opportunity = opportunities[k]
        if (volunteer, k) in taken or age < opportunity.min_age:
            continue
        full = load is not None and load[k] >= opportunity.capacity
        if full and attempt < PICK_TRIES - 1:
            continue
        return k
    return None


def _pair(volunteer: int, opportunity: Opportunity) -> Pair:
    return Pair(volunteer_id(volunteer), opportunity.opportunity_id, opportunity.campaign_id)


def _emit(pair: Pair, time: int, event_type: str, **extra: Any) -> None:
    pair.events.append((time, event_type, extra))


def _signed_up(
    rng: random.Random,
    volunteer: int,
    registered_at: int,
    opportunity: Opportunity,
    waitlisted: bool,
    as_of: int,
) -> Pair | None:
    """A sign-up, maybe withdrawn (and maybe taken again), then attendance if placed.

    None when sign-ups had closed before the volunteer registered.
    """
    low = max(opportunity.published_at, registered_at) + 60
    high = opportunity.starts_at - HOUR  # sign-ups close an hour before the shift
    if opportunity.cancelled is not None:
        high = min(high, opportunity.cancelled[0] - 60)
    if high - 600 < low:
        return None
    pair = _pair(volunteer, opportunity)
    signed = _between(rng, low, high - 600)
    _emit(pair, signed, "volunteer.signed_up")
    pair.signup_status = "signed_up"
    if rng.random() < WITHDRAW_SHARE:
        withdrawn = _between(rng, signed + 1, max(signed + 1, high - 300))
        _emit(pair, withdrawn, "volunteer.signup_withdrawn")
        pair.signup_status = "withdrawn"
        if rng.random() >= RESIGN_SHARE:
            return pair
        again = _between(rng, withdrawn + 1, max(withdrawn + 1, high))
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
        marked = ends + _between(rng, HOUR, 3 * HOUR)
        if marked <= as_of:  # organisers mark no-shows after the shift
            _emit(pair, marked, "volunteer.no_show")
            pair.no_show = True
        return
    if not walk_in and rng.random() < PAPER_ONLY_SHARE:
        _verify(rng, pair, round((ends - starts) / HOUR * 4) / 4, ends, as_of)
        return
    checked_in = starts + _between(rng, -20 * 60, 30 * 60)
    method = v.CHECK_IN_METHOD.draw(rng)
    _emit(pair, checked_in, "volunteer.checked_in", at=checked_in, method=method)
    pair.checked_in_at = checked_in
    last = checked_in
    if rng.random() < RESCAN_SHARE:  # a second scan later: the earliest still counts
        last = checked_in + _between(rng, 60, 600)
        _emit(pair, last, "volunteer.checked_in", at=last, method=method)
    left = None
    if rng.random() < CHECK_OUT_SHARE:
        left = max(ends + _between(rng, -30 * 60, 30 * 60), last + 600)
        _emit(pair, left, "volunteer.checked_out", at=left)
        if rng.random() < SECOND_CHECK_OUT_SHARE:  # the latest check-out counts
            left += _between(rng, 60, 900)
            _emit(pair, left, "volunteer.checked_out", at=left)
        pair.checked_out_at = left
    if rng.random() < VERIFY_SHARE:
        hours = round(((left or ends) - checked_in) / HOUR * 4) / 4
        _verify(rng, pair, hours, max(left or ends, last), as_of)


def _verify(rng: random.Random, pair: Pair, hours: float, after: int, as_of: int) -> None:
    """Hours confirmed a while after the shift, sometimes corrected later; pending past as_of."""
    hours = min(24.0, max(0.25, hours))
    verified = after + _between(rng, HOUR, 36 * HOUR)
    if verified > as_of:
        return
    verifier = f"staff-{pair.campaign_id}"
    _emit(pair, verified, "volunteer.hours_verified", hours=hours, verified_by=verifier)
    pair.hours, pair.first_verified_at = hours, verified
    if rng.random() < CORRECTION_SHARE:
        corrected_at = verified + _between(rng, HOUR, 72 * HOUR)
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
