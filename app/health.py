"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from app.connectors import connector_states

router = APIRouter(tags=["health"])


class Health(BaseModel):
    """Whether the process and what it depends on are fine."""

    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    """Always ok while the process serves requests."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The database and the screen-pop broker are reachable",
    responses={503: {"model": Health, "description": "A dependency is down"}},
)
async def readyz(request: Request) -> Health | JSONResponse:
    """Ok when the database answers; 503 with the failing check otherwise."""
    checks: dict[str, str] = {}
    try:
        async with request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"unreachable: {type(exc).__name__}"
    checks["screen_pop"] = "ok" if request.app.state.hub.healthy() else "broker unreachable"
    # A phone system's stream being down is reported, not a reason to leave the load
    # balancer: webhooks, lookups and the widget still work.
    ready = all(v == "ok" for v in checks.values())
    checks.update(connector_states(request.app))
    # A lookup source that fails is skipped on every call: reported, never unready.
    lookups = getattr(request.app.state, "source_lookups", None)
    failing_sources = lookups.problems() if lookups is not None else {}
    checks.update(failing_sources)
    # Dead letters need an admin, not a restart: reported (degraded), still ready.
    dead = await asyncio.to_thread(lambda: request.app.state.webhooks.dead_letters)
    if dead:
        checks["dead_letters"] = f"{dead} webhooks failed repeatedly: GET /v1/dead-letters"
    if ready:
        return Health(status="degraded" if dead or failing_sources else "ok", checks=checks)
    return JSONResponse(Health(status="unavailable", checks=checks).model_dump(), status_code=503)
