"""`/v1/organizations` and `/v1/sectors`: partner organisations and what they achieved."""

from __future__ import annotations

from typing import Annotated, Literal

import asyncpg
from fastapi import APIRouter, Path, Query, Request, Response

from consumers.api import queries
from consumers.api.http import not_found
from consumers.api.models import (
    OrganizationDetail,
    OrganizationPage,
    OrganizationSummary,
    Sector,
    Sectors,
)
from consumers.api.routes.deps import Cursors, Src, answer, cursor_signer
from schemas.common import Sector as SectorName

router = APIRouter(tags=["organizations"], lifespan=cursor_signer)


@router.get("/v1/organizations", response_model=OrganizationPage)
async def list_organizations(
    request: Request,
    sources: Src,
    cursors: Cursors,
    sector: SectorName | None = None,
    status: Literal["active", "suspended"] | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,  # a nation's organisations in one page
    cursor_: Annotated[str | None, Query(alias="cursor")] = None,
) -> Response:
    """Organisations by id with campaigns, engaged volunteers and verified hours."""
    filters = {"sector": sector.value if sector else None, "status": status}
    after = cursors.decode(cursor_, "org_id", filters) if cursor_ else None  # BadCursor: 400

    async def build(conn: asyncpg.Connection) -> OrganizationPage:
        rows = await queries.organization_page(
            conn, sources, limit=limit + 1, after=after, **filters
        )
        more, rows = len(rows) > limit, rows[:limit]
        last = rows[-1]["org_id"] if rows else ""
        return OrganizationPage(
            items=[OrganizationSummary(**r) for r in rows],
            next_cursor=cursors.encode("org_id", filters, last, last) if more else None,
            limit=limit,
        )

    return await answer(request, build)


@router.get("/v1/organizations/{org_id}", response_model=OrganizationDetail)
async def get_organization(
    request: Request, sources: Src, org_id: Annotated[str, Path(max_length=200)]
) -> Response:
    """One organisation with its campaigns."""

    async def build(conn: asyncpg.Connection) -> OrganizationDetail:
        row = await queries.organization(conn, sources, org_id)
        if row is None:
            raise not_found("organization", org_id)
        return OrganizationDetail(**row)

    return await answer(request, build)


@router.get("/v1/sectors", response_model=Sectors)
async def list_sectors(request: Request, sources: Src) -> Response:
    """Totals per sector (volunteers counted once per sector)."""

    async def build(conn: asyncpg.Connection) -> Sectors:
        return Sectors(items=[Sector(**r) for r in await queries.sectors(conn, sources)])

    return await answer(request, build)
