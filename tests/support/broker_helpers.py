"""Broker test helpers: a clock the test moves, pops as the call lifecycle builds them,
and the settings the broker tests run with (fixtures: tests/support/broker_fixtures.py)."""

from __future__ import annotations

import itertools
import time
import uuid

from app.models import utcnow
from app.screen_pop.schemas import Pop, PopCall, PopType
from app.settings import Settings

WINDOW = 60
QUEUE = 4
_tenants = itertools.count(int(time.time()) % 100_000 * 1000)


class Clock:
    """A clock the test moves: the replay window passes without sleeping."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def make_pop(tenant_id: int, kind: PopType = "call.ringing", call_id: int = 1) -> Pop:
    """A pop as the call lifecycle would publish it."""
    now = utcnow()
    call = PopCall(
        id=call_id, provider="fake", provider_call_id=f"c{call_id}", state="ringing",
        direction="inbound", from_e164="+31612345678", from_display="06 12345678",
        to_e164="+31201234567", line_label="Zorgloket", ringing_extension="201",
        answered_by_agent_id=None, answered_by_name=None, started_at=now, answered_at=None,
        ended_at=None,
    )  # fmt: skip
    return Pop(
        pop_id=uuid.uuid4().hex, type=kind, tenant_id=tenant_id, call=call, card=None, at=now
    )


def settings(redis_url: str | None = None, queue: int = QUEUE) -> Settings:
    return Settings(
        database_url="sqlite+aiosqlite:///:memory:",
        redis_url=redis_url,
        replay_window_seconds=WINDOW,
        stream_queue_size=queue,
    )
