"""The world's entities: organisations and campaigns up front, each day's opportunities.

Everything is drawn from one `random.Random(seed)` in a fixed order, so a seed always
gives the same world. Volunteers are `population.py`; who signed up for what, day by day,
is `activity.py`; `stream.py` drives them all in time order.
"""

from __future__ import annotations

import datetime as dt
import math
import random

from producers.simulator import vocab as v
from producers.simulator.model import (
    DAY,
    HOUR,
    Campaign,
    Opportunity,
    Org,
    SimConfig,
    day_of,
    epoch,
)

CLOSED_SHARE, CANCELLED_SHARE = 0.12, 0.04
CAMPAIGN_UPDATE_SHARE = 0.25
OPPORTUNITY_CANCEL_SHARE = 0.03
SUSPENDED_SHARE = 0.05
MEAN_CAPACITY = sum(v.CAPACITIES) / len(v.CAPACITIES)


def orgs_and_campaigns(rng: random.Random, config: SimConfig) -> tuple[list[Org], list[Campaign]]:
    """The partner organisations and their campaigns (a few hundred at most)."""
    orgs = _orgs(rng, config)
    return orgs, _campaigns(rng, config, orgs)


def _round_robin_then_weighted(rng: random.Random, i: int, weighted: v.Weighted[str]) -> str:
    """Every value once first (so small worlds still cover them all), then by weight."""
    return weighted.values[i] if i < len(weighted.values) else weighted.draw(rng)


def _orgs(rng: random.Random, config: SimConfig) -> list[Org]:
    orgs = []
    for i in range(config.org_count):
        sector = _round_robin_then_weighted(rng, i, v.SECTOR)
        kind_ar, kind_en = rng.choice(v.ORG_NAMES[sector])
        topic_ar, topic_en = rng.choice(v.ORG_TOPICS)
        registered = config.window_start - rng.randint(200 * DAY, 400 * DAY)
        org = Org(f"org-{i + 1:04d}", f"{kind_ar} {topic_ar} {i + 1}",
                  f"{kind_en} {topic_en} {i + 1}", sector, registered)  # fmt: skip
        if rng.random() < SUSPENDED_SHARE or (i == 4 and config.org_count >= 5):
            # Suspended once the window ends: a suspended organisation states nothing new
            # (schemas/ownership.py), so its activity, all counted, comes before. The draw
            # of an earlier moment is kept so that a seed still gives the same world.
            rng.randint(HOUR, 3 * DAY)
            org.suspended = (config.as_of, rng.choice(v.SUSPENSION_REASONS))
        orgs.append(org)
    return orgs


def _campaigns(rng: random.Random, config: SimConfig, orgs: list[Org]) -> list[Campaign]:
    campaigns = []
    first_day = day_of(config.window_start)
    for i in range(config.campaign_count):
        municipality = _round_robin_then_weighted(rng, i, v.MUNICIPALITY)
        theme_ar, theme_en = rng.choice(v.CAMPAIGN_THEMES)
        place_ar, place_en = v.MUNICIPALITY_NAMES[municipality]
        starts_on = first_day - dt.timedelta(days=rng.randint(0, 30))
        ends_on = config.until + dt.timedelta(days=rng.randint(7, 90))
        # The second and third campaigns always end (completed, cancelled) so that even a
        # small world exercises every campaign status.
        roll = {1: 0.0, 2: CLOSED_SHARE}.get(i, rng.random())
        ending = None
        if config.days >= 3 and roll < CLOSED_SHARE + CANCELLED_SHARE:
            ends_on = first_day + dt.timedelta(days=rng.randint(config.days // 3, config.days - 2))
            ending = "completed" if roll < CLOSED_SHARE else "cancelled"
        launched = epoch(starts_on) - rng.randint(DAY, 10 * DAY)
        campaign = Campaign(
            f"cmp-{i + 1:05d}", rng.choice(orgs).org_id, f"{theme_ar} - {place_ar}",
            f"{theme_en} - {place_en}", "awareness" if rng.random() < 0.15 else "volunteer_drive",
            municipality, starts_on, ends_on, rng.randint(5, 60) * 10, rng.randint(10, 200) * 20,
            launched,
        )  # fmt: skip
        if ending:
            campaign.closed = (epoch(ends_on) + DAY + 6 * HOUR + rng.randint(0, 3 * HOUR), ending)
        if rng.random() < CAMPAIGN_UPDATE_SHARE:
            last = campaign.closed[0] - 60 if campaign.closed else config.as_of
            changes: dict[str, object] = rng.choice([
                {"target_volunteers": campaign.target_volunteers + 50},
                {"target_hours": campaign.target_hours + 200},
                {"ends_on": (ends_on + dt.timedelta(days=14)).isoformat()},
            ])  # fmt: skip
            if ending and "ends_on" in changes:
                changes = {"target_hours": campaign.target_hours + 100}
            campaign.updates.append((rng.randint(launched + HOUR, last), changes))
        campaigns.append(campaign)
    return campaigns


def opportunities_of_day(
    rng: random.Random,
    config: SimConfig,
    campaigns: list[Campaign],
    day_start: int,
    signups: int,
    first: int,
) -> list[Opportunity]:
    """The shifts of one day, sized so that its expected sign-ups fill them to about 85%.

    `first` is the index of the day's first opportunity (ids number every opportunity).
    """
    day = day_of(day_start)
    running = [c for c in campaigns if c.closed is None or c.ends_on >= day]
    if not running or signups <= 0:
        return []
    wanted = math.ceil(signups / (MEAN_CAPACITY * 0.85))
    opportunities = []
    for i in range(first, first + wanted):
        campaign = rng.choice(running)
        starts = day_start + rng.randint(4, 16) * HOUR  # 07:00 to 19:00 in Doha
        ends = starts + rng.choice((2, 3, 4, 5, 6)) * HOUR
        municipality = campaign.municipality
        if rng.random() < 0.1:
            municipality = v.MUNICIPALITY.draw(rng)
        shift_ar, shift_en = rng.choice(v.SHIFTS)
        published = max(campaign.launched_at + HOUR, starts - rng.randint(2 * DAY, 14 * DAY))
        opportunity = Opportunity(
            f"opp-{i + 1:06d}", campaign.campaign_id, f"{campaign.title_ar} - {shift_ar}",
            f"{campaign.title_en}, {shift_en}", starts, ends, rng.choice(v.CAPACITIES),
            municipality, rng.choice(v.MIN_AGES), published,
        )  # fmt: skip
        if rng.random() < OPPORTUNITY_CANCEL_SHARE or i == 3:  # at least one, even when small
            when = rng.randint(published + HOUR, starts - 2 * HOUR)
            opportunity.cancelled = (when, rng.choice(v.CANCEL_REASONS))
        opportunities.append(opportunity)
    return opportunities
