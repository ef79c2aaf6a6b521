"""`/v1/kpi/participation` and `/v1/activity/recent`: national aggregates, no personal data."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Query, Request, Response

from consumers.api import queries
from consumers.api.http import Cache, Problem
from consumers.api.kpi import kpi
from consumers.api.models import Bucket, Kpi, RecentActivity
from consumers.api.routes.deps import Cfg, Src, answer
from schemas.common import Municipality

router = APIRouter(tags=["kpi"])
BUCKET = dt.timedelta(minutes=5)
EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def instant(as_of: dt.datetime | None) -> dt.datetime:
    """The as-of instant: now by default; a naive time is taken as UTC."""
    if as_of is None:
        return dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        return as_of.replace(tzinfo=dt.UTC)
    return as_of


@router.get("/v1/kpi/participation", response_model=Kpi)
async def participation(
    request: Request,
    sources: Src,
    settings: Cfg,
    municipality: Annotated[
        Municipality | None, Query(description="Only this municipality's volunteers")
    ] = None,
    as_of: Annotated[
        dt.datetime | None, Query(description="RFC 3339 instant (default: now)")
    ] = None,
) -> Response:
    """Share of the eligible population active in the 12 months to as_of, its breakdowns,
    monthly series and trajectory to 10% by 2030. Counts of 1..k-1 volunteers are withheld."""
    at = instant(as_of)
    if at.year > 2100 or at.year < 2000:
        detail = "as_of must be between 2000 and 2100"
        error = {"path": "query.as_of", "rule": "range", "message": detail}
        raise Problem(422, "invalid_request", None, detail, errors=[error])
    return await answer(request, lambda conn: kpi(
        conn, sources, at, k=settings.api_min_cell, hourly_rate=settings.api_hourly_rate_qar,
        municipality=municipality.value if municipality else None,
    ))  # fmt: skip


@router.get("/v1/activity/recent", response_model=RecentActivity)
async def recent_activity(
    request: Request,
    sources: Src,
    as_of: Annotated[
        dt.datetime | None, Query(description="End of the hour (default: now)")
    ] = None,
) -> Response:
    """Check-ins per five minutes over the last hour: twelve buckets, the last one open."""
    at = instant(as_of)
    current = EPOCH + ((at - EPOCH) // BUCKET) * BUCKET
    starts = [current - BUCKET * n for n in range(11, -1, -1)]

    async def build(conn: asyncpg.Connection) -> RecentActivity:
        counts = await queries.recent_check_ins(conn, sources, starts[0], at)
        buckets = [Bucket(start=s, check_ins=counts.get(s, 0)) for s in starts]
        total = sum(b.check_ins for b in buckets)
        return RecentActivity(as_of=at, bucket_minutes=5, buckets=buckets, check_ins=total)

    return await answer(request, build, Cache.LIVE)
