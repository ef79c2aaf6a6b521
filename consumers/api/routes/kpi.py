"""`/v1/kpi/participation` and `/v1/activity/recent`: national aggregates, no personal data.

Both take `as_of` as a calendar day (consumers/api/days.py) and publish under the
disclosure policy (consumers/api/DISCLOSURE.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request, Response

from consumers.api import queries
from consumers.api.days import counted, parse_day, today
from consumers.api.http import Cache
from consumers.api.kpi import kpi, record_for_bi
from consumers.api.models import Bucket, Kpi, RecentActivity
from consumers.api.routes.deps import Cfg, Src, answer
from consumers.api.suppression import is_small
from schemas.common import Municipality

router = APIRouter(tags=["kpi"])
HOUR = dt.timedelta(hours=1)
DAY_DOC = "Calendar day YYYY-MM-DD in Asia/Qatar, today or earlier (default: today)"


@router.get("/v1/kpi/participation", response_model=Kpi)
async def participation(
    request: Request,
    sources: Src,
    settings: Cfg,
    municipality: Annotated[
        Municipality | None, Query(description="Only this municipality's volunteers")
    ] = None,
    as_of: Annotated[str | None, Query(description=DAY_DOC, max_length=64)] = None,
) -> Response:
    """Share of the eligible population active in the 12 months to the end of the day, its
    breakdowns, monthly series and trajectory to 10% by 2030, under the disclosure policy:
    small cells and their complements withheld, complete days only."""
    zone = settings.api_timezone
    day = counted(parse_day(as_of, zone), zone)

    async def build(conn: asyncpg.Connection) -> Kpi:
        doc = await kpi(
            conn, sources, day, k=settings.api_min_cell, hourly_rate=settings.api_hourly_rate_qar,
            municipality=municipality.value if municipality else None,
        )  # fmt: skip
        if day.day == today(zone):  # the BI views show what the API shows today
            await record_for_bi(conn, sources, doc)
        return doc

    past = day.day < today(zone)
    return await answer(request, build, memo_s=settings.api_past_memo_s if past else None)


def hours_of(day: dt.date, zone: str, now: dt.datetime | None = None) -> list[dt.datetime]:
    """Starts of the complete hours shown for a day: its 24 hours, or for today the last
    24 complete ones (the open hour is never shown: it would locate each check-in)."""
    now = now or dt.datetime.now(dt.UTC)
    last = counted(day, zone, now)
    if last.through < day:  # today
        end = now.replace(minute=0, second=0, microsecond=0)
    else:
        end = last.until + dt.timedelta(microseconds=1)
    return [end - HOUR * n for n in range(24, 0, -1)]


@router.get("/v1/activity/recent", response_model=RecentActivity)
async def recent_activity(
    request: Request,
    sources: Src,
    settings: Cfg,
    as_of: Annotated[str | None, Query(description=DAY_DOC, max_length=64)] = None,
) -> Response:
    """Check-ins per complete hour (24 buckets); counts of 1..k-1 withheld, and the total
    with them, so that no sum or difference of published figures gives a withheld one."""
    day = parse_day(as_of, settings.api_timezone)
    starts = hours_of(day, settings.api_timezone)
    k = settings.api_min_cell

    async def build(conn: asyncpg.Connection) -> RecentActivity:
        counts = await queries.hourly_check_ins(conn, sources, starts[0], starts[-1] + HOUR)
        buckets = []
        for s in starts:
            n = counts.get(s, 0)
            small = is_small(n, k)
            buckets.append(Bucket(start=s, check_ins=None if small else n, suppressed=small))
        hidden = any(b.suppressed for b in buckets)
        total = None if hidden else sum(counts.get(s, 0) for s in starts)
        return RecentActivity(
            as_of=day.isoformat(), bucket_minutes=60, buckets=buckets, check_ins=total,
            suppressed=hidden,
        )  # fmt: skip

    return await answer(request, build, Cache.LIVE)
