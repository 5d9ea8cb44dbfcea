"""The API's documentation pages work without internet: every file they load is served by us."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from app.settings import Settings
from tests.support.live_server import thread_server

pytest_plugins = ["tests.support.browser"]


class _Assets(HTMLParser):
    """Every URL a page loads by itself: scripts, stylesheets, icons, images."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script" and found.get("src"):
            self.urls.append(("script", found["src"] or ""))
        elif tag == "link" and found.get("href"):
            rel = (found.get("rel") or "").lower()
            self.urls.append(("stylesheet" if "stylesheet" in rel else rel, found["href"] or ""))
        elif tag in ("img", "iframe") and found.get("src"):
            self.urls.append((tag, found["src"] or ""))


def assets_of(html: str) -> list[tuple[str, str]]:
    parser = _Assets()
    parser.feed(html)
    return parser.urls


async def test_swagger_ui_loads_only_files_we_serve(client: httpx.AsyncClient) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assets = assets_of(response.text)
    # A page that loads nothing is as blank offline: it must load Swagger UI's script and style.
    assert {kind for kind, _url in assets} >= {"script", "stylesheet"}, assets
    # No absolute URL anywhere in the page, inline scripts included (fonts, validators).
    assert not re.findall(r"(?:https?:)?//[\w.-]+\.\w+", response.text)
    for kind, url in assets:
        target = urljoin(str(response.url), url)
        assert urlsplit(target).netloc == "testserver", f"/docs loads {url} from elsewhere"
        served = await client.get(target)
        assert served.status_code == 200, url
        assert len(served.content) > 100, url
        if kind == "script":
            assert "javascript" in served.headers["content-type"], url
        if kind == "stylesheet":
            assert served.headers["content-type"].startswith("text/css"), url


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from app.migrate import upgrade

    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('docs') / 'docs.db'}"
    upgrade(url)
    with thread_server(Settings(database_url=url)) as server:
        yield server.base_url


def _offline(page: Any, base_url: str) -> list[str]:
    """Refuse every request that leaves our server, as a network without internet would."""
    elsewhere: list[str] = []
    host = urlsplit(base_url).netloc

    def handle(route: Any, request: Any) -> None:
        if urlsplit(request.url).netloc == host:
            route.continue_()
        else:
            elsewhere.append(request.url)
            route.abort()

    page.route("**/*", handle)
    return elsewhere


@pytest.mark.browser
def test_swagger_ui_draws_every_operation_offline(page: Any, docs_server: str) -> None:
    elsewhere = _offline(page, docs_server)
    page.goto(f"{docs_server}/docs")
    page.wait_for_selector(".opblock-summary-path[data-path='/v1/cases']")
    assert page.locator(".opblock").count() > 50
    assert page.locator(".errors-wrapper").count() == 0  # Swagger UI's "could not render"
    assert elsewhere == []


async def test_redoc_is_not_offered(client: httpx.AsyncClient) -> None:
    """ReDoc's bundle always fetches its logo from redoc.ly: we offer Swagger UI only."""
    assert (await client.get("/redoc")).status_code == 404
