"""Serves the supervisors' dashboard: the page at /dashboard and its files, Chart.js included.

As the widget (app/widget/router.py): files from an allow-list built once from the package's
own folder, and a page that runs only our own scripts. The page opens in the language the
browser asks for (Accept-Language); a switch on the page changes it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Header
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.errors import NotFound, error_responses

DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "static" / "dashboard"
LANGUAGES = ("nl", "en")

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
}
_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
# The page holds a supervisor's token: only our own scripts (Chart.js is one of them), never
# framed by strangers, its URL never sent on as a referrer.
_PAGE_HEADERS = {
    **_HEADERS,
    "Referrer-Policy": "no-referrer",
    "Vary": "Accept-Language",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'self'; base-uri 'none'; form-action 'self'"
    ),
}


def _allowed_files() -> dict[str, Path]:
    if not DASHBOARD_DIR.is_dir():
        return {}
    return {
        path.name: path
        for path in DASHBOARD_DIR.iterdir()
        if path.is_file() and path.suffix in _MEDIA_TYPES
    }


_FILES = _allowed_files()

router = APIRouter(tags=["dashboard"], include_in_schema=False)


def language_of(accept_language: str | None) -> str:
    """nl or en, by the browser's preference (q-values honoured); Dutch when it names neither."""
    best, best_q = "nl", -1.0
    for position, part in enumerate((accept_language or "").split(",")):
        tag, _, rest = part.strip().partition(";")
        language = tag.strip().lower().split("-")[0]
        if language not in LANGUAGES:
            continue
        q = 1.0
        if rest.strip().startswith("q="):
            try:
                q = float(rest.strip()[2:])
            except ValueError:
                q = 0.0
        q -= position * 1e-6  # equal q: the first named wins
        if q > best_q:
            best, best_q = language, q
    return best


@router.get("/dashboard", response_class=HTMLResponse, summary="The supervisors' dashboard")
async def dashboard_page(
    accept_language: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> HTMLResponse:
    """The page: paste or pass a token, see the figures."""
    html = (DASHBOARD_DIR / "index.html").read_text(encoding="utf-8")
    html = html.replace('<html lang="nl">', f'<html lang="{language_of(accept_language)}">', 1)
    return HTMLResponse(html, headers=_PAGE_HEADERS)


@router.get("/dashboard/{file}", summary="A file of the dashboard", responses=error_responses(404))
async def dashboard_file(file: str) -> Response:
    """dashboard.js, its strings, its styles and Chart.js, with revalidation."""
    path = _FILES.get(file)
    if path is None:
        raise NotFound(f"No dashboard file named {file!r}.")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)
