"""`/v1/campaigns`: campaigns with fill rates, hours and progress, keyset-paginated."""

from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Path, Query, Request, Response

from consumers.api import queries
from consumers.api.http import not_found
from consumers.api.models import CampaignDetail, CampaignPage, CampaignSummary
from consumers.api.routes.deps import Cursors, Src, answer, cursor_signer
from schemas.common import Municipality

router = APIRouter(tags=["campaigns"], lifespan=cursor_signer)
Status = Literal["active", "closed", "cancelled"]


@router.get("/v1/campaigns", response_model=CampaignPage)
async def list_campaigns(
    request: Request,
    sources: Src,
    cursors: Cursors,
    municipality: Municipality | None = None,
    org_id: str | None = None,
    status: Status | None = None,
    sort: Annotated[
        queries.CampaignSort,
        Query(description="starts_on or fill_rate; a leading '-' sorts descending"),
    ] = "-starts_on",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor_: Annotated[
        str | None, Query(alias="cursor", description="`next_cursor` of the previous page")
    ] = None,
) -> Response:
    """Campaigns with their statistics; follow `next_cursor` until it is null."""
    filters = {
        "municipality": municipality.value if municipality else None,
        "org_id": org_id,
        "status": status,
    }
    key_kind = queries.SORT_KEYS[sort.lstrip("-")][1]  # BadCursor: a 400 problem (http.py)
    after = cursors.decode(cursor_, sort, filters, key_kind) if cursor_ else None

    async def build(conn: asyncpg.Connection) -> CampaignPage:
        rows = await queries.campaign_page(
            conn, sources, sort=sort, limit=limit + 1, after=after, **filters
        )
        more, rows = len(rows) > limit, rows[:limit]
        next_cursor = None
        if more:
            last = rows[-1]
            key = queries.campaign_sort_key(last, sort)
            next_cursor = cursors.encode(sort, filters, key, last["campaign_id"])
        items = [CampaignSummary(**r) for r in rows]
        return CampaignPage(items=items, next_cursor=next_cursor, limit=limit, sort=sort)

    return await answer(request, build)


@router.get("/v1/campaigns/{campaign_id}", response_model=CampaignDetail)
async def get_campaign(
    request: Request, sources: Src, campaign_id: Annotated[str, Path(max_length=200)]
) -> Response:
    """One campaign, its statistics and its opportunities."""

    async def build(conn: asyncpg.Connection) -> CampaignDetail:
        row = await queries.campaign(conn, sources, campaign_id)
        if row is None:
            raise not_found("campaign", campaign_id)
        return CampaignDetail(**row)

    return await answer(request, build)
