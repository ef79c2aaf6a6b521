"""A small, legitimate world for one partner, as the CloudEvents it would publish.

`tatawwu partners sample ORG` prints it as JSON Lines: the organisation's registration, a
campaign it launches, an opportunity under way (it began half an hour ago), volunteers it registers, their
sign-ups and, for the first, a check-in now. Every fact is one ORG may state, in the
order its claims need, timed a few minutes ago (inside the platform's time bounds), with
ids unique to the run: what a partner trying direct Kafka access (and `make demo`)
sends. Personal data here is invented.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from schemas.examples import example

GIVEN = ("Fatima", "Ahmed", "Mariam", "Khalid", "Noora", "Hamad", "Aisha", "Yousef")
FAMILY = ("Al-Kuwari", "Al-Thani", "Al-Marri", "Al-Sulaiti")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def sample_world(
    org_id: str, volunteers: int = 3, now: dt.datetime | None = None, run: str | None = None
) -> list[dict[str, Any]]:
    """The events of ORG's sample world, in publishing order."""
    now = now or dt.datetime.now(dt.UTC)
    run = run or uuid.uuid4().hex[:8]
    source = f"partner/{org_id}"
    serial = itertools.count(1)
    campaign, opportunity = f"cmp-{org_id}-{run}", f"opp-{org_id}-{run}"
    start = (now - dt.timedelta(minutes=30)).replace(second=0, microsecond=0)
    events: list[dict[str, Any]] = []

    def add(kind: str, subject: str, minutes_ago: float, **data: Any) -> None:
        document = example(kind)
        document.update(
            id=f"{org_id}-{run}-{next(serial):04d}", source=source, subject=subject,
            time=_iso(now - dt.timedelta(minutes=minutes_ago)),
        )  # fmt: skip
        document["data"].update(data)
        events.append(document)

    add("organization.registered", org_id, 10, org_id=org_id, name_en=f"{org_id} (sample)")
    add("campaign.launched", campaign, 9, campaign_id=campaign, org_id=org_id,
        starts_on=now.date().isoformat(), ends_on=(now + dt.timedelta(days=60)).date().isoformat())  # fmt: skip
    add("opportunity.published", campaign, 8, opportunity_id=opportunity, campaign_id=campaign,
        starts_at=_iso(start), ends_at=_iso(start + dt.timedelta(hours=4)))  # fmt: skip
    ids = [f"vol-{org_id}-{run}-{n}" for n in range(1, volunteers + 1)]
    for n, volunteer in enumerate(ids):
        given, family = GIVEN[n % len(GIVEN)], FAMILY[n % len(FAMILY)]
        add("volunteer.registered", volunteer, 7, volunteer_id=volunteer, given_name=given,
            family_name=family, phone=f"+9745550{n:04d}",
            email=f"{given.lower()}.{n}@example.qa")  # fmt: skip
    participation = {"opportunity_id": opportunity, "campaign_id": campaign}
    for volunteer in ids:
        add("volunteer.signed_up", volunteer, 5, volunteer_id=volunteer, **participation)
    if ids:
        add("volunteer.checked_in", ids[0], 1, volunteer_id=ids[0], at=_iso(now - dt.timedelta(minutes=1)),
            **participation)  # fmt: skip
    return events
