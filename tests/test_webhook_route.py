"""The lean webhook route: served without FastAPI's per-request machinery, answering
exactly what the FastAPI route it stands in for answers, with one budget timer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.routing import Route

from telephony_adapters.generic import sign_generic
from tests.conftest import TenantCtx
from tests.test_webhooks import SECRET, connect, generic_event, post_generic

Call = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]


def lean_route(app: FastAPI) -> Route:
    (route,) = [r for r in app.router.routes if type(r) is Route and r.path.startswith("/web")]
    return route


@pytest.fixture
async def connected(api: httpx.AsyncClient) -> AsyncIterator[None]:
    await connect(api, "generic", SECRET)
    yield


def requests(tenant: TenantCtx) -> dict[str, Call]:
    """One request of each kind the route answers differently."""
    url = f"/webhooks/generic/{tenant.slug}"

    def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
        return {**sign_generic(secret, body, int(time.time())), "content-type": "application/json"}

    malformed = b'{"call_id": '
    return {
        "ringing": lambda c: post_generic(c, tenant, generic_event(f"c-{uuid.uuid4()}", "ringing")),
        "unknown provider": lambda c: c.post(f"/webhooks/nope/{tenant.slug}", content=b"{}"),
        "not connected": lambda c: c.post(f"/webhooks/twilio/{tenant.slug}", content=b"x=1"),
        "no tenant": lambda c: c.post("/webhooks/generic/no-such-tenant", content=b"{}"),
        "bad signature": lambda c: post_generic(
            c, tenant, generic_event("c-bad", "ringing"), secret="wrong-secret-123"
        ),
        "too large": lambda c: c.post(url, content=b"x" * (64 * 1024 + 1)),
        "malformed": lambda c: c.post(url, content=malformed, headers=signed(malformed)),
        "unsigned GET": lambda c: c.get(url, params={"call_id": "c-get", "event": "ringing"}),
        "HEAD": lambda c: c.head(url),
        "PUT": lambda c: c.put(url, content=b"{}"),
        "extra segment": lambda c: c.post(f"{url}/more", content=b"{}"),
    }


def answer_of(response: httpx.Response) -> tuple[int, str, str, str | None, str | None]:
    body = response.text
    if response.status_code == 200 and body.startswith("{"):
        body = json.dumps(sorted(json.loads(body)))  # the shape; the call's own values differ
    return (
        response.status_code,
        response.headers.get("content-type", ""),
        body,
        response.headers.get("allow"),
        response.headers.get("retry-after"),
    )


@pytest.mark.usefixtures("connected")
async def test_the_lean_route_answers_as_the_fastapi_route_does(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = requests(tenant)
    lean = {name: answer_of(await call(client)) for name, call in calls.items()}
    monkeypatch.setattr(
        app.router, "routes", [r for r in app.router.routes if r is not lean_route(app)]
    )
    through_fastapi = {name: answer_of(await call(client)) for name, call in calls.items()}
    assert lean == through_fastapi
    assert lean["ringing"][0] == 200 and lean["bad signature"][0] == 401
    assert lean["HEAD"][3] == lean["PUT"][3] == "GET, POST"


@pytest.mark.usefixtures("connected")
async def test_webhooks_skip_fastapis_dependency_resolution(
    client: httpx.AsyncClient,
    api: httpx.AsyncClient,
    tenant: TenantCtx,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def refuse(*_args: Any, **_kwargs: Any) -> Any:
        raise AssertionError("FastAPI resolved dependencies for this request")

    monkeypatch.setattr("fastapi.routing.solve_dependencies", refuse)
    with pytest.raises(AssertionError):  # the API routes do resolve them
        await api.get("/v1/providers")
    response = await post_generic(client, tenant, generic_event(f"c-{uuid.uuid4()}", "ringing"))
    assert response.status_code == 200, response.text


@pytest.mark.usefixtures("connected")
async def test_a_webhook_arms_one_budget_timer(
    app: FastAPI, client: httpx.AsyncClient, tenant: TenantCtx, monkeypatch: pytest.MonkeyPatch
) -> None:
    await post_generic(client, tenant, generic_event(f"c-{uuid.uuid4()}", "ringing"))  # cached
    loop = asyncio.get_running_loop()
    budget = 7.31  # a budget no other timer of the test's loop shares
    monkeypatch.setattr(app.state.webhooks, "_budget", budget)
    deadlines: list[float] = []
    original = loop.call_at

    def counting(when: float, callback: Any, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        deadlines.append(when)
        return original(when, callback, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", counting)
    started = loop.time()
    response = await post_generic(client, tenant, generic_event(f"c-{uuid.uuid4()}", "ringing"))
    ended = loop.time()
    assert response.status_code == 200, response.text
    budget_timers = [when for when in deadlines if started + budget <= when <= ended + budget]
    assert len(budget_timers) == 1
