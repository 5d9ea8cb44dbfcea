"""Debian's Chromium through Playwright: the `chromium` and `page` fixtures.

A pytest plugin: test modules load it with `pytest_plugins = ["tests.support.browser"]`
(do not import it as well, or pytest cannot rewrite its asserts).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fake_widget_backend import FakeBackend, running_fake_backend
from tests.support.servers import missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 5000  # every browser wait is bounded; none exceeds 10 s


@pytest.fixture
def chromium() -> Iterator[Any]:
    # One Chromium per test: sync Playwright runs an event loop on this thread while it is
    # open, and session fixtures (the migrated database) and async tests need it closed.
    if not CHROMIUM.exists():
        missing("Chromium", "chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(
        viewport={"width": 400, "height": 900}, locale="en-GB", timezone_id="Europe/Amsterdam"
    )
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="module")
def backend() -> Iterator[tuple[FakeBackend, str]]:
    """The fake API and stream the widget talks to, shared by a test module's tests."""
    with running_fake_backend() as started:
        yield started
