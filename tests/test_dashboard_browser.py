"""The supervisors' dashboard in a real browser (Debian's Chromium through Playwright): the
real app in its own process on a migrated SQLite file seeded with known figures
(tests/support/dashboard_seed.py), in Dutch and in English, every chart drawn, and the team
filter changing what is shown. Screenshots: /tmp/dashboard-nl.png and /tmp/dashboard-en.png.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support.dashboard_seed import SINCE, UNTIL, Seeded, seed

pytest_plugins = ["tests.support.browser"]

CHARTS = ("chart-hours", "chart-ring", "chart-missed", "chart-helped")
# Pixels a drawn canvas has painted (not transparent): an empty one has none.
PAINTED = """(id) => {
  const canvas = document.getElementById(id);
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted += 1;
  return painted;
}"""


def _in_own_loop(make: Callable[[], Any]) -> Any:
    """Run a coroutine on a private loop in a thread (sync Playwright owns this one)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(30)


async def _seed_tenant(database_url: str) -> tuple[str, Seeded]:
    from app.auth.keys import Scope, issue_key
    from app.auth.roles import Role
    from app.db import create_engine, create_sessionmaker, session_scope
    from app.models import Tenant

    engine = create_engine(database_url)
    sessionmaker = create_sessionmaker(engine)
    try:
        async for session in session_scope(sessionmaker):
            tenant = Tenant(slug=f"dash-{uuid.uuid4().hex[:10]}", name="Zorg Amersfoort")
            session.add(tenant)
            await session.flush()
            # A supervisor's key: reads what it is shown, changes nothing.
            _row, key = await issue_key(
                session,
                tenant_id=tenant.id,
                name="dashboard",
                scopes=[Scope.LOOKUP_READ],
                role=Role.SUPERVISOR,
            )
            tenant_id = tenant.id
        return key, await seed(sessionmaker, tenant_id)
    finally:
        await engine.dispose()


def _drawn(page: Any) -> dict[str, int]:
    return {chart: page.evaluate(PAINTED, chart) for chart in CHARTS}


@pytest.mark.browser
def test_dashboard_in_dutch_and_english_filtered_per_team(chromium: Any, sqlite_url: str) -> None:
    from playwright.sync_api import expect

    from tests.support.live_server import live_server

    key, seeded = _in_own_loop(lambda: _seed_tenant(sqlite_url))
    period = f"since={SINCE.isoformat()}&until={UNTIL.isoformat()}"
    with live_server(sqlite_url) as base_url:
        files = httpx.get(f"{base_url}/dashboard/chart.umd.min.js", timeout=5)
        assert files.status_code == 200
        assert files.text.startswith("/*!\n * Chart.js v4.6.1")
        assert httpx.get(f"{base_url}/dashboard/../main.py", timeout=5).status_code == 404
        for accept, lang in (("en-GB,en;q=0.9,nl;q=0.8", "en"), ("nl-NL,nl;q=0.9", "nl")):
            page_html = httpx.get(
                f"{base_url}/dashboard", headers={"Accept-Language": accept}, timeout=5
            )
            assert f'<html lang="{lang}">' in page_html.text
            assert "script-src 'self'" in page_html.headers["content-security-policy"]

        context = chromium.new_context(
            viewport={"width": 1280, "height": 1000}, locale="nl-NL",
            timezone_id="Europe/Amsterdam",
        )  # fmt: skip
        context.set_default_timeout(5000)
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "response",
            lambda response: (
                problems.append(f"{response.status} {response.url}")
                if response.status >= 400
                else None
            ),
        )
        page.on(
            "console",
            lambda message: problems.append(message.text) if message.type == "error" else None,
        )
        try:
            # The browser asks for Dutch (locale nl-NL): no ?lang needed.
            page.goto(f"{base_url}/dashboard?token={key}&{period}")
            expect(page.locator("html")).to_have_attribute("lang", "nl")
            expect(page.get_by_test_id("kpi-calls")).to_have_text("7")
            assert "token=" not in page.url  # out of the address bar and the history
            expect(page.locator("#token-form")).to_be_hidden()
            tiles = page.get_by_test_id("tiles")
            expect(tiles).to_contain_text("Gesprekken")
            expect(page.get_by_test_id("kpi-recognised")).to_have_text("57%")
            expect(page.get_by_test_id("kpi-ring-to-pop")).to_have_text("5 / 485 ms")
            expect(page.get_by_test_id("kpi-called-back")).to_have_text("2 · 60 min")
            expect(page.get_by_test_id("kpi-overdue")).to_have_text("2")
            expect(page.get_by_test_id("kpi-helped")).to_have_text("50%")
            expect(page.get_by_test_id("kpi-fcr")).to_have_text("25%")
            expect(page.get_by_test_id("timezone")).to_have_text(
                "Uren en weken in Europe/Amsterdam"
            )
            drawn = _drawn(page)
            assert all(painted > 500 for painted in drawn.values()), drawn
            page.screenshot(path="/tmp/dashboard-nl.png", full_page=True)

            # Per team: Balie answers line 1 only.
            page.get_by_test_id("filter-team").select_option(str(seeded.team_a))
            expect(page.get_by_test_id("kpi-calls")).to_have_text("4")
            expect(page.get_by_test_id("kpi-ring-to-pop")).to_have_text("4,2 / 490 ms")
            expect(page.get_by_test_id("kpi-overdue")).to_have_text("1")
            expect(page.get_by_test_id("kpi-fcr")).to_have_text("33%")
            page.get_by_test_id("filter-team").select_option(str(seeded.team_b))
            expect(page.get_by_test_id("kpi-calls")).to_have_text("3")
            expect(page.get_by_test_id("kpi-called-back")).to_have_text("1 · 90 min")
            page.get_by_test_id("filter-team").select_option("")
            expect(page.get_by_test_id("kpi-calls")).to_have_text("7")

            # The switch: English, kept for the next visit.
            page.get_by_test_id("lang-en").click()
            expect(page.locator("html")).to_have_attribute("lang", "en")
            expect(tiles).to_contain_text("Calls")
            expect(tiles).to_contain_text("Helped first time")
            expect(page.get_by_test_id("timezone")).to_have_text(
                "Hours and weeks in Europe/Amsterdam"
            )
            expect(page.get_by_test_id("kpi-ring-to-pop")).to_have_text("5 / 485 ms")
            drawn = _drawn(page)
            assert all(painted > 500 for painted in drawn.values()), drawn
            page.screenshot(path="/tmp/dashboard-en.png", full_page=True)
            page.goto(f"{base_url}/dashboard?{period}")
            expect(page.get_by_test_id("kpi-calls")).to_have_text("7")
            expect(page.locator("html")).to_have_attribute("lang", "en")
        finally:
            context.close()
    assert not problems, f"errors on the page: {problems}"


@pytest.mark.browser
def test_a_refused_token_asks_for_another(chromium: Any, sqlite_url: str) -> None:
    from playwright.sync_api import expect

    from tests.support.live_server import live_server

    with live_server(sqlite_url) as base_url:
        context = chromium.new_context(locale="en-GB")
        context.set_default_timeout(5000)
        page = context.new_page()
        try:
            page.goto(f"{base_url}/dashboard?token=sg_not-a-key")
            expect(page.get_by_test_id("token-error")).to_have_text(
                "This token is not accepted: ask an administrator for a supervisor token."
            )
            expect(page.locator("#board")).to_be_hidden()
        finally:
            context.close()
