"""A small HTTP/JSON CRM for the lookup-source tests, run as its own uvicorn process.

GET /api/people?phone=<e164>     bearer `crm-token`: {"data": {"results": [...]}}
GET /api/slow?phone=..&ms=N      the same after N ms (a CRM slower than the deadline)
GET /api/hang?phone=..           never answers (a CRM that hangs)
GET /api/broken?phone=..         HTTP 500
GET /api/count                   how many lookups it has answered or begun
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "crm-token"
PEOPLE: dict[str, dict[str, Any]] = {
    "+31201234567": {
        "id": 4711,
        "name": "Bakkerij Jansen",
        "salutation": "Meneer Jansen",
        "company": {"name": "Bakkerij Jansen B.V."},
        "lang": "nl",
        "tags": ["vip"],
        "last_contact": "2026-11-30",
    },
    "+31301234567": {
        "id": 815,
        "name": "Fatima Yilmaz",
        "salutation": "Mevrouw Yilmaz",
        "company": None,
        "lang": "tr",
        "tags": [],
        "last_contact": None,
    },
}
_count = 0


def _answer(request: Request) -> JSONResponse:
    person = PEOPLE.get(request.query_params.get("phone", ""))
    return JSONResponse({"data": {"results": [person] if person else []}})


async def people(request: Request) -> JSONResponse:
    global _count
    _count += 1
    if request.headers.get("authorization") != f"Bearer {TOKEN}":
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    return _answer(request)


async def slow(request: Request) -> JSONResponse:
    global _count
    _count += 1
    await asyncio.sleep(int(request.query_params.get("ms", "1000")) / 1000)
    return _answer(request)


async def hang(request: Request) -> JSONResponse:
    global _count
    _count += 1
    await asyncio.sleep(3600)
    return _answer(request)


async def broken(request: Request) -> JSONResponse:
    global _count
    _count += 1
    return JSONResponse({"error": "database on fire"}, status_code=500)


async def count(_request: Request) -> JSONResponse:
    return JSONResponse({"count": _count})


app = Starlette(
    routes=[
        Route("/api/people", people),
        Route("/api/slow", slow),
        Route("/api/hang", hang),
        Route("/api/broken", broken),
        Route("/api/count", count),
    ]
)


@contextmanager
def running_crm(port: int) -> Iterator[str]:
    """The CRM on 127.0.0.1:port in a process of its own; yields its base URL."""
    with running_asgi("tests.support.crm_server:app", port) as url:
        yield url


@contextmanager
def running_asgi(target: str, port: int) -> Iterator[str]:
    """uvicorn serving `target` (module:app) on 127.0.0.1:port in its own process."""
    from tests.support.servers import _wait_port

    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", target, "--host", "127.0.0.1",
         "--port", str(port), "--log-level", "warning", "--timeout-graceful-shutdown", "1"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        # Its hanging requests are cancelled on shutdown, each with a traceback: not news.
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
