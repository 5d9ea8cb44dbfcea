"""The agent widget end to end: the real app in its own process, a signed Twilio webhook,
the caller's card on screen in a real browser (Debian's Chromium through Playwright), and
the wrap-up saved into the call's interaction.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

pytest_plugins = ["tests.support.browser"]

TWILIO_AUTH_TOKEN = "twilio-auth-token-widget-e2e"


def _in_own_loop(make: Callable[[], Any]) -> Any:
    """Run a coroutine on a private loop in a thread (the tests' own loop stays untouched)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(30)


@dataclass
class Seeded:
    """What the end-to-end test put in the database before the server started."""

    slug: str
    admin_key: str
    agent_id: int
    ada_id: int


async def _seed(database_url: str, slug: str) -> Seeded:
    """A tenant with an admin key, an agent, and Ada with an overdue callback."""
    from app.auth.keys import Scope, issue_key
    from app.db import create_engine, create_sessionmaker, session_scope
    from app.models import Agent, CallbackRequest, Contact, ContactNumber, Tenant

    engine = create_engine(database_url)
    try:
        async for session in session_scope(create_sessionmaker(engine)):
            tenant = Tenant(slug=slug, name="Zorg Amersfoort", default_region="NL")
            session.add(tenant)
            await session.flush()
            _row, key = await issue_key(
                session, tenant_id=tenant.id, name="widget-e2e", scopes=[Scope.ADMIN]
            )
            agent = Agent(tenant_id=tenant.id, name="Sanne Bakker", extension="101")
            ada = Contact(
                tenant_id=tenant.id,
                display_name="Ada de Vries",
                form_of_address="Mevrouw De Vries",
                language="nl",
            )
            session.add_all([agent, ada])
            await session.flush()
            session.add_all(
                [
                    ContactNumber(
                        tenant_id=tenant.id,
                        contact_id=ada.id,
                        e164="+31612345678",
                        raw="06-12345678",
                        kind="mobile",
                    ),
                    CallbackRequest(
                        tenant_id=tenant.id,
                        contact_id=ada.id,
                        reason="Bellen over de wachtlijst",
                        due_by=datetime.now(UTC) - timedelta(days=1),
                    ),
                ]
            )
            seeded = Seeded(slug=slug, admin_key=key, agent_id=agent.id, ada_id=ada.id)
    finally:
        await engine.dispose()
    return seeded


def _until(check: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    """Wait for a write to be visible: the API answers before its transaction commits."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not visible within {timeout}s")
        time.sleep(0.05)


def _post_twilio(base_url: str, slug: str, params: dict[str, str]) -> None:
    from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

    url = f"{base_url}/webhooks/twilio/{slug}"
    signature = RequestValidator(TWILIO_AUTH_TOKEN).compute_signature(url, params)
    response = httpx.post(url, data=params, headers={"X-Twilio-Signature": signature}, timeout=5)
    assert response.status_code == 200, response.text


@pytest.mark.browser
@pytest.mark.parametrize("transport", ["ws", "sse"])
def test_end_to_end_twilio_call_to_wrap_up(page: Any, sqlite_url: str, transport: str) -> None:
    from playwright.sync_api import expect

    from tests.support.live_server import live_server

    slug = f"widget-{uuid.uuid4().hex[:10]}"
    seeded: Seeded = _in_own_loop(lambda: _seed(sqlite_url, slug))
    with (
        live_server(sqlite_url) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {seeded.admin_key}"}, timeout=5
        ) as admin,
    ):
        issued = admin.post(f"/v1/agents/{seeded.agent_id}/tokens", json={"label": "e2e"})
        assert issued.status_code == 201, issued.text
        token = issued.json()["token"]
        connected = admin.put(
            "/v1/providers/twilio",
            json={"secret": TWILIO_AUTH_TOKEN, "options": {"dial_target": "sip:queue@pbx"}},
        )
        assert connected.status_code == 200, connected.text
        as_agent = {"Authorization": f"Bearer {token}"}
        _until(lambda: admin.get("/v1/me", headers=as_agent).status_code == 200, "the token")
        _until(lambda: len(admin.get("/v1/providers").json()) == 1, "the twilio connection")

        page.goto(f"{base_url}/widget?token={token}&lang=en&transport={transport}")
        pill = page.get_by_test_id("connection-state")
        expect(pill).to_have_attribute("data-state", "connected")
        expect(pill).to_have_attribute("data-transport", transport)
        expect(page.get_by_test_id("agent")).to_contain_text("Sanne Bakker")

        sid = f"CA{uuid.uuid4().hex}"
        leg = {"From": "+31612345678", "To": "+31334567890", "Direction": "inbound"}
        _post_twilio(base_url, slug, {"CallSid": sid, "CallStatus": "ringing", **leg})
        card = page.get_by_test_id("call-card")
        expect(card.get_by_test_id("caller-name")).to_have_text("Ada de Vries", timeout=2000)
        overdue = card.get_by_test_id("callback")
        expect(overdue).to_have_class(re.compile(r"\boverdue\b"), timeout=2000)
        expect(overdue).to_contain_text("Bellen over de wachtlijst")
        expect(card.get_by_test_id("form-of-address")).to_have_text("Mevrouw De Vries")

        # The dialled agent's leg answers (To = client:<extension>), then the call completes.
        _post_twilio(
            base_url,
            slug,
            {
                "CallSid": f"CA{uuid.uuid4().hex}",
                "ParentCallSid": sid,
                "CallStatus": "in-progress",
                "From": "+31612345678",
                "To": "client:101",
                "Direction": "outbound-dial",
            },
        )
        expect(card.get_by_test_id("answered-by")).to_have_text("Answered by you")
        _post_twilio(base_url, slug, {"CallSid": sid, "CallStatus": "completed", **leg})
        expect(card).to_have_attribute("data-state", "ended")

        card.get_by_test_id("wrapup-outcome").select_option("information_given")
        card.get_by_test_id("wrapup-note").fill("Explained the waiting list; position 4")
        card.get_by_test_id("wrapup-save").click()
        expect(card.get_by_test_id("wrapup-saved")).to_be_visible()
        expect(card).to_have_count(0)

        history = admin.get(f"/v1/contacts/{seeded.ada_id}/interactions")
        assert history.status_code == 200, history.text
        wrapped = [i for i in history.json() if i["outcome"] == "information_given"]
        assert len(wrapped) == 1, history.json()
        assert "Explained the waiting list; position 4" in wrapped[0]["summary"]
        assert wrapped[0]["call_id"] is not None
        assert wrapped[0]["agent_id"] == seeded.agent_id
