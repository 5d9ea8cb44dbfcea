"""Log lines never carry an agent token or a caller's full number: WebSocket request lines
and the receiver's "held" warnings, captured as the logging system hands them out."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError

from app.calls.providers import TenantProvider
from app.calls.receiver import Recorded, WebhookReceiver
from app.log_privacy import describe_error, mask_numbers
from app.models import utcnow
from telephony_adapters.base import Outcome
from tests.conftest import TenantCtx
from tests.support.live_server import thread_server
from tests.test_streams import stream_settings

NUMBER = "+31612345678"
TOKEN = "sga_0badc0de_S3cretS3cretS3cretS3cretS3cretS3cre"


class Captured(logging.Handler):
    """Every record a logger hands to its handlers, formatted."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@contextmanager
def capturing() -> Iterator[Captured]:
    """Capture our request and webhook loggers (after uvicorn configured logging: its
    dictConfig drops handlers added before)."""
    handler = Captured()
    loggers = [logging.getLogger(n) for n in ("uvicorn.error", "stamgast.webhooks")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


@pytest.fixture
def captured() -> Iterator[Captured]:
    with capturing() as handler:
        yield handler


async def test_websocket_request_lines_hide_the_token(sqlite_url: str) -> None:
    with thread_server(stream_settings(sqlite_url)) as server, capturing() as captured:
        async with connect(f"{server.ws_url}/v1/stream?token={TOKEN}&last_seq=3") as ws:
            with pytest.raises(ConnectionClosedError):  # refused after the handshake
                await ws.recv()
    websocket_lines = [line for line in captured.lines if "WebSocket /v1/stream" in line]
    assert websocket_lines, captured.lines
    assert all("token=***&last_seq=3" in line for line in websocket_lines), websocket_lines
    assert not any("S3cret" in line for line in captured.lines)


class FailingDelivery:
    """A delivery whose recording fails in the database with the caller's number bound."""

    provider = "generic"

    def __init__(self, tenant_slug: str) -> None:
        self.tenant_slug = tenant_slug
        self.received_at: datetime = utcnow()

    def authenticate(self, tenant: TenantProvider) -> None:
        return None

    async def record(self, session: AsyncSession, tenant: TenantProvider) -> Recorded:
        await session.execute(text("SELECT * FROM no_such_table WHERE n = :n"), {"n": NUMBER})
        raise AssertionError("unreachable")

    async def answer(self, tenant: TenantProvider, outcome: Outcome) -> str:
        return "answered"

    def fail_open(self, tenant: TenantProvider | None) -> str:
        return "fail-open"


async def test_held_warnings_mask_the_callers_number(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, captured: Captured
) -> None:
    assert (
        await api.put("/v1/providers/generic", json={"secret": "generic-secret-123"})
    ).status_code == 200
    receiver = WebhookReceiver(
        sessionmaker=app.state.sessionmaker,
        hub=app.state.hub,
        directory=app.state.provider_directory,
        budget_seconds=5.0,
    )
    try:
        assert await receiver.deliver(FailingDelivery(tenant.slug)) == "fail-open"
        assert receiver.held == 1
    finally:
        await receiver.stop()
    held = [line for line in captured.lines if "held" in line]
    assert held, captured.lines
    assert not any("12345678" in line for line in captured.lines), held
    assert "no_such_table" in held[0]  # what went wrong is still said


def test_describe_error_masks_numbers_and_keeps_short_digits() -> None:
    assert mask_numbers(f"Key (e164)=({NUMBER}) exists, id 42 in 2026") == (
        "Key (e164)=(+31 6 **** 5678) exists, id 42 in 2026"
    )
    assert describe_error(ValueError(f"bad {NUMBER}\nmore {NUMBER}")) == (
        "ValueError: bad +31 6 **** 5678"
    )
