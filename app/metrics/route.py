"""`GET /metrics`: this process's metrics, or every process's with PROMETHEUS_MULTIPROC_DIR.

Open by default, like most exporters (Prometheus scrapes without credentials and the
figures hold no personal data); `STAMGAST_METRICS_TOKEN` requires `Authorization: Bearer`,
and `STAMGAST_METRICS_ENABLED=false` turns the route off (404).
"""

from __future__ import annotations

import hmac
import os

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import ErrorBody, NotFound, Unauthorized
from app.metrics.registry import CALLBACKS, CALLBACKS_OVERDUE
from app.models import CallbackRequest, Tenant, utcnow
from app.settings import Settings

router = APIRouter(tags=["metrics"])
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess() -> bool:
    """True when every process writes its metrics to the shared directory."""
    return bool(os.environ.get(MULTIPROC_ENV))


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"},
        401: {"model": ErrorBody, "description": "STAMGAST_METRICS_TOKEN is set and not sent"},
        404: {"model": ErrorBody, "description": "Metrics are turned off"},
    },
)
async def metrics(request: Request) -> Response:
    """Counters and histograms of webhooks, pops, recognition, sources and callbacks."""
    settings: Settings = request.app.state.settings
    if not settings.metrics_enabled:
        raise NotFound("Metrics are turned off (STAMGAST_METRICS_ENABLED=false).")
    token = settings.metrics_token
    if token is not None:
        sent = request.headers.get("authorization", "")
        expected = f"Bearer {token.get_secret_value()}"
        if not hmac.compare_digest(sent.encode(), expected.encode()):
            raise Unauthorized("Send the metrics token: Authorization: Bearer <token>.")
    await read_callbacks(request.app.state.sessionmaker)
    registry = REGISTRY
    if multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


async def read_callbacks(sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    """Set the callback gauges from the database: one grouped query per scrape."""
    overdue = case(
        (
            (CallbackRequest.status == "open") & (CallbackRequest.due_by < utcnow()),
            1,
        ),
        else_=0,
    )
    query = (
        select(Tenant.slug, CallbackRequest.status, func.count(), func.sum(overdue))
        .join(Tenant, Tenant.id == CallbackRequest.tenant_id)
        .group_by(Tenant.slug, CallbackRequest.status)
    )
    async with sessionmaker() as session:
        rows = (await session.execute(query)).all()
    overdue_by_tenant: dict[str, int] = {}
    for slug, status, count, late in rows:
        CALLBACKS.labels(slug, status).set(count)
        overdue_by_tenant[slug] = overdue_by_tenant.get(slug, 0) + int(late or 0)
    for slug, late in overdue_by_tenant.items():
        CALLBACKS_OVERDUE.labels(slug).set(late)


def process_ended() -> None:
    """Drop this process's live gauges (connected agents, held) from the shared directory."""
    if multiprocess():
        from prometheus_client import multiprocess as shared

        shared.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
