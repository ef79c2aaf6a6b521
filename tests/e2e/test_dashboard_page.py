"""The web dashboard in headless chromium: same figures as the API, Arabic RTL, live updates."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.async_api import Browser, Page, expect

from tests.integration.api.world import ProjectedWorld
from tests.support.events import event, iso

pytestmark = [pytest.mark.e2e, pytest.mark.kafka, pytest.mark.postgres]
QATAR = ZoneInfo("Asia/Qatar")


@pytest.fixture
async def page(browser: Browser, base_url: str) -> AsyncIterator[Page]:
    """A fresh browser page on the dashboard, after its first refresh (English)."""
    context = await browser.new_context(viewport={"width": 1280, "height": 1500}, locale="en-GB")
    tab = await context.new_page()
    await tab.goto(f"{base_url}/?refresh=1000")
    await tab.wait_for_selector("body[data-refreshes]")
    yield tab
    await context.close()


async def api_json(base_url: str, path: str) -> dict:
    """A document straight from the read API."""
    async with httpx.AsyncClient(base_url=base_url) as client:
        response = await client.get(path)
        response.raise_for_status()
        return response.json()


async def test_the_page_shows_the_apis_kpi_municipality_and_campaign_figures(
    page: Page, base_url: str, artifacts: Path
) -> None:
    """The national rate and count, every municipality cell and every campaign row match the API."""
    kpi = await api_json(base_url, "/v1/kpi/participation")
    campaigns = await api_json(base_url, "/v1/campaigns?status=active&sort=-fill_rate&limit=10")
    assert float(await page.get_attribute("#kpi-rate", "data-value")) == kpi["national"]["rate"]
    assert int(await page.get_attribute("#kpi-active", "data-value")) == kpi["national"]["active"]
    rows = page.get_by_test_id("municipality-row")
    shown = {
        await row.get_attribute("data-municipality"): await row.get_attribute("data-active")
        for row in await rows.all()
    }
    assert shown == {
        name: "" if cell["active"] is None else str(cell["active"])
        for name, cell in kpi["breakdowns"]["municipality"].items()
    }
    campaign_rows = await page.get_by_test_id("campaign-row").all()
    assert [await r.get_attribute("data-campaign-id") for r in campaign_rows] == [
        c["campaign_id"] for c in campaigns["items"]
    ]
    for row, c in zip(campaign_rows, campaigns["items"], strict=True):
        assert float(await row.get_attribute("data-verified-hours")) == c["verified_hours"]
        fill = await row.get_attribute("data-fill-rate")
        assert (float(fill) if fill else None) == c["fill_rate"]
    assert len(await page.locator("#trajectory polyline").all()) == 2
    await expect(page.get_by_test_id("freshness-participation")).to_have_attribute(
        "data-state", "ok"
    )
    await page.screenshot(path=str(artifacts / "dashboard-en.png"), full_page=True)


async def test_switching_to_arabic_turns_the_page_right_to_left(
    page: Page, artifacts: Path
) -> None:
    """The language switch sets dir=rtl and lang=ar with Arabic labels, and back again."""
    await page.get_by_test_id("lang-switch").click()
    html = page.locator("html")
    await expect(html).to_have_attribute("dir", "rtl")
    await expect(html).to_have_attribute("lang", "ar")
    await expect(page.locator("h1")).to_have_text("لوحة التطوع الوطنية")
    await expect(page.locator("[data-municipality=doha] td.name")).to_have_text("الدوحة")
    await page.screenshot(path=str(artifacts / "dashboard-ar.png"), full_page=True)
    await page.get_by_test_id("lang-switch").click()
    await expect(html).to_have_attribute("dir", "ltr")


async def test_new_check_ins_appear_on_the_page_without_a_reload(
    page: Page, e2e_world: ProjectedWorld, unique: str
) -> None:
    """Twelve walk-in check-ins late in yesterday's last complete hour raise the live count
    (complete hours only) and today's active total (complete days only) in place."""
    await page.evaluate("window.__notReloaded = true")
    before_live = int(await page.get_attribute("#checkins-total", "data-value"))
    before_active = int(await page.get_attribute("#kpi-active", "data-value"))
    # Stated by the organisation that owns the opportunity's campaign (the ownership rules),
    # one that is not suspended (a suspended organisation states nothing new).
    truth = e2e_world.truth
    opportunity_id, opportunity, owner = next(
        (o, opp, org)
        for o, opp in truth["opportunities"].items()
        for org in [truth["campaigns"][opp["campaign_id"]]["org_id"]]
        if truth["organizations"]["by_id"][org]["status"] != "suspended"
    )
    # Public counts move by complete hours and days (consumers/api/DISCLOSURE.md): a time
    # both in a complete hour of the last 24 and before today began in Qatar.
    utc_now = dt.datetime.now(dt.UTC)
    qatar_midnight = utc_now.astimezone(QATAR).replace(hour=0, minute=0, second=0, microsecond=0)
    hour_start = utc_now.replace(minute=0, second=0, microsecond=0)
    now = min(hour_start, qatar_midnight.astimezone(dt.UTC)) - dt.timedelta(minutes=30)
    check_ins = [
        event(
            "volunteer.checked_in",
            f"api-test-{unique}-{n}",
            now,
            source=f"partner/{owner}",
            volunteer_id=volunteer_id,
            opportunity_id=opportunity_id,
            campaign_id=opportunity["campaign_id"],
            at=iso(now),
            method="qr",
        )
        for n in range(12)
        for volunteer_id in [f"vol-e2e-{unique}-{n}"]
    ]
    await e2e_world.publish(check_ins, "tatawwu.attendance")
    await expect(page.locator("#checkins-total")).to_have_attribute(
        "data-value", str(before_live + 12), timeout=10_000
    )
    await expect(page.locator("#kpi-active")).to_have_attribute(
        "data-value", str(before_active + 12), timeout=10_000
    )
    assert await page.evaluate("window.__notReloaded") is True
