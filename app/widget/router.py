"""Serves the agent widget: the stand-alone page at /widget and the element's files.

The files are served from an allow-list built once from the package's own folder, so no
path a client sends ever reaches the filesystem.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from app.errors import NotFound, error_responses

WIDGET_DIR = Path(__file__).resolve().parent.parent / "static" / "widget"

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# Files change with every release while their URLs do not: browsers must revalidate.
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # Another origin embeds the element with a plain <script src>: let it load the files.
    "Cross-Origin-Resource-Policy": "cross-origin",
}

# The page carries the agent's token: it runs only our own scripts, is never framed by
# strangers and never leaks its URL (which may hold the token) as a referrer.
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "connect-src 'self' ws: wss:; img-src 'self' data:; frame-ancestors 'self'; "
        "base-uri 'none'; form-action 'self'"
    ),
}


def _allowed_files() -> dict[str, Path]:
    """Every servable file of the widget folder by name (index.html is served at /widget)."""
    if not WIDGET_DIR.is_dir():
        return {}
    return {
        path.name: path
        for path in WIDGET_DIR.iterdir()
        if path.is_file() and path.suffix in _MEDIA_TYPES and path.name != "index.html"
    }


_FILES = _allowed_files()

router = APIRouter(tags=["widget"], include_in_schema=False)


@router.get("/widget", response_class=HTMLResponse, summary="The agent widget, full page")
async def widget_page() -> HTMLResponse:
    """The stand-alone page: paste or pass a token, see the callers' cards."""
    html = (WIDGET_DIR / "index.html").read_text(encoding="utf-8")
    return HTMLResponse(html, headers=_PAGE_HEADERS)


@router.get(
    "/widget/{file}",
    summary="A file of the embeddable widget",
    responses=error_responses(404),
)
async def widget_file(file: str) -> Response:
    """`stamgast-widget.js` and its siblings, with their content types and revalidation."""
    path = _FILES.get(file)
    if path is None:
        raise NotFound(f"No widget file named {file!r}.")
    return FileResponse(path, media_type=_MEDIA_TYPES[path.suffix], headers=_HEADERS)
