"""The webhook's hot path: it writes, answers and pops what the lifecycle (the ORM and the
pydantic Card/Pop models) does, for every kind of caller; and on SQLite a delivery costs one
hop into the database connection's thread, a repeated one too."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from app.calls.hot_path import EventRecorder, PreparedPop
from app.calls.hot_store import hot_store_for
from app.calls.providers import TenantProvider
from app.db import create_sessionmaker, session_scope
from app.models import Call, CallbackRequest, CallEventRecord, Interaction, utcnow
from telephony_adapters.base import CallEvent, Direction, EventKind
from telephony_adapters.generic import sign_generic
from tests.conftest import TenantCtx
from tests.support.hot_callers import ADA, LINE, OTHER_LINE, SHARED, STRANGER, seed

SECRET = "generic-secret-123"
Step = Callable[[str], CallEvent]


def _event(kind: EventKind, minute: int, **fields: Any) -> Step:
    at = utcnow().replace(microsecond=123456) + timedelta(minutes=minute)
    values: dict[str, Any] = {"from_raw": ADA, "to_raw": LINE, "occurred_at": at}
    values.update(fields)
    return lambda call_id: CallEvent(provider="generic", call_id=call_id, kind=kind, **values)


RING, ANSWER, END, MISS, VOICEMAIL = (
    EventKind.RINGING, EventKind.ANSWERED, EventKind.ENDED, EventKind.MISSED, EventKind.VOICEMAIL,
)  # fmt: skip
OUT = {"direction": Direction.OUTBOUND, "from_raw": LINE, "to_raw": ADA}
SCENARIOS: dict[str, list[Step]] = {
    "known caller to the line's team, answered, ended": [
        _event(RING, 0, caller_name="  Ada L  "),
        _event(ANSWER, 1, answered_by="201"),
        _event(END, 5),
    ],
    "known caller at an extension, missed": [
        _event(RING, 0, ringing_extension="202"),
        _event(MISS, 1),
    ],
    "shared number, missed, then the voicemail report": [
        _event(RING, 0, from_raw=SHARED),
        _event(MISS, 1, from_raw=SHARED),
        _event(VOICEMAIL, 2, from_raw=SHARED),
    ],
    "unknown caller on a line without a team, hung up": [
        _event(RING, 0, from_raw=STRANGER, to_raw=OTHER_LINE),
        _event(END, 1, from_raw=STRANGER, to_raw=OTHER_LINE, person_answered=False),
    ],
    "withheld number, missed": [
        _event(RING, 0, from_raw="anonymous"),
        _event(MISS, 1, from_raw="anonymous"),
    ],
    "outbound call, answered by a SIP user": [
        _event(RING, 0, ringing_extension="201", **OUT),
        _event(ANSWER, 1, answered_by="piet", **OUT),
        _event(END, 3, **OUT),
    ],
    "answered before it rang, by name": [
        _event(ANSWER, 0, answered_by="sanne visser"),
        _event(RING, 0),
        _event(END, 2),
    ],
    "an answer after the hangup": [
        _event(RING, 0),
        _event(MISS, 1),
        _event(ANSWER, 0, answered_by="201"),
    ],
    "an application answered, then nobody": [
        _event(RING, 0, from_raw=STRANGER),
        _event(ANSWER, 0, by_application=True, from_raw=STRANGER),
        _event(END, 1, from_raw=STRANGER),
    ],
}


def _comparable(pop: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(pop.model_dump_json())
    del data["pop_id"]
    call = data["call"]
    del call["id"], call["provider_call_id"]
    call["interaction_id"] = call["interaction_id"] is not None  # each path writes its own
    return data


async def _tenant_provider(app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx) -> Any:
    assert (await api.put("/v1/providers/generic", json={"secret": SECRET})).status_code == 200
    async for session in session_scope(app.state.sessionmaker):
        return await app.state.provider_directory.find(session, tenant.slug, "generic")
    raise AssertionError("no session")


async def test_the_hot_path_pops_and_writes_what_the_lifecycle_does(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, caplog: pytest.LogCaptureFixture
) -> None:
    await seed(app, tenant.id, utcnow())
    provider: TenantProvider = await _tenant_provider(app, api, tenant)
    kwargs: dict[str, Any] = {"sessionmaker": app.state.sessionmaker, "routes": app.state.routes}
    hot = EventRecorder(store=hot_store_for(app.state.engine), **kwargs)
    lifecycle = EventRecorder(store=None, **kwargs)
    seen = 0
    for step in range(max(len(steps) for steps in SCENARIOS.values())):
        # Step by step, the hot path first: both paths meet the same rows (the first of
        # two missed calls opens the callback request, the second counts on it).
        for name, steps in SCENARIOS.items():
            if step >= len(steps):
                continue
            make = steps[step]
            hot_outcome, hot_pops = await hot.record(provider, [make(f"{name}/hot")])
            orm_outcome, orm_pops = await lifecycle.record(provider, [make(f"{name}/orm")])
            where = f"{name}, step {step}"
            assert hot_outcome == orm_outcome, where
            assert [agents for agents, _ in hot_pops] == [agents for agents, _ in orm_pops], where
            assert [_comparable(p) for _, p in hot_pops] == [_comparable(p) for _, p in orm_pops]
            assert all(isinstance(pop, PreparedPop) for _, pop in hot_pops), where
            seen += len(orm_pops)
            # A vendor's retry: nothing written, nothing popped, nothing answered.
            assert await hot.record(provider, [make(f"{name}/hot")]) == (type(hot_outcome)(), [])
    assert seen >= 20
    await _same_rows(app, tenant)
    # On PostgreSQL a first ringing is recorded by one statement (hot_pg_claim): it chose
    # as `decide` did for every caller above, or it would have said so.
    assert not [r for r in caplog.records if "claimed unlike decided" in r.getMessage()]


async def _same_rows(app: FastAPI, tenant: TenantCtx) -> None:
    async for session in session_scope(app.state.sessionmaker):
        calls = list(await session.scalars(select(Call).where(Call.tenant_id == tenant.id)))
        by_path: dict[str, dict[str, tuple[Any, ...]]] = {"hot": {}, "orm": {}}
        for call in calls:
            name, _, path = call.provider_call_id.rpartition("/")
            by_path[path][name] = (
                call.state, call.direction, call.from_e164, call.from_masked, call.to_e164,
                call.line_id, call.ringing_extension, call.answered_by, call.answered_by_agent_id,
                call.contact_id, call.match, call.started_at, call.answered_at, call.ended_at,
            )  # fmt: skip
        assert by_path["hot"] == by_path["orm"] and len(by_path["hot"]) == len(SCENARIOS)
        ids = {call.id: call.provider_call_id.rpartition("/")[2] for call in calls}
        interactions: dict[str, list[tuple[Any, ...]]] = {"hot": [], "orm": []}
        for i in await session.scalars(
            select(Interaction).where(
                Interaction.tenant_id == tenant.id, Interaction.call_id.is_not(None)
            )
        ):
            key = (i.contact_id, i.occurred_at, i.channel, i.direction, i.summary, i.outcome)
            interactions[ids[i.call_id or 0]].append((*key, i.agent_id))
        assert sorted(interactions["hot"], key=repr) == sorted(interactions["orm"], key=repr)
        assert interactions["hot"]
        opened = await session.scalars(
            select(CallbackRequest).where(
                CallbackRequest.tenant_id == tenant.id, CallbackRequest.call_id.is_not(None)
            )
        )
        # The first missed call of each caller opened them (always the hot path's), the
        # lifecycle's counted on them.
        assert {ids[c.call_id or 0] for c in opened} == {"hot"}


@asynccontextmanager
async def counted_hops(app: FastAPI) -> AsyncIterator[list[str]]:
    """Every function sent to the aiosqlite connection's thread while inside."""
    async with app.state.engine.connect() as connection:
        driver: Any = (await connection.get_raw_connection()).driver_connection
    hops: list[str] = []
    real = driver._execute

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__qualname__", repr(fn)))
        return await real(fn, *args, **kwargs)

    driver._execute = counting
    try:
        yield hops
    finally:
        del driver._execute


async def _post(client: httpx.AsyncClient, slug: str, **payload: Any) -> dict[str, Any]:
    body = json.dumps({"from": ADA, "to": LINE, **payload}).encode()
    headers = sign_generic(SECRET, body, int(time.time()))
    headers["Content-Type"] = "application/json"
    response = await client.post(f"/webhooks/generic/{slug}", content=body, headers=headers)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert not answer.get("degraded"), answer
    return answer


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # counts aiosqlite's hops
async def test_a_webhook_is_one_hop_into_the_sqlite_thread(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    assert app.state.engine.dialect.name == "sqlite"
    await seed(app, tenant.id, utcnow())
    assert (await api.put("/v1/providers/generic", json={"secret": SECRET})).status_code == 200
    # The first call reads the tenant's phone system and routing into memory.
    await _post(client, tenant.slug, call_id="warm-up", event="ringing")
    call_id = uuid.uuid4().hex
    for event, extra in [
        ("ringing", {"caller_name": "Ada"}),
        ("answered", {"answered_by": "201"}),
        ("ended", {}),
    ]:
        async with counted_hops(app) as hops:
            assert (await _post(client, tenant.slug, call_id=call_id, event=event, **extra))["ok"]
        assert len(hops) == 1, (event, hops)
        async with counted_hops(app) as hops:  # the vendor retries
            await _post(client, tenant.slug, call_id=call_id, event=event, **extra)
        assert len(hops) == 1, (event, "repeated", hops)
    missed = uuid.uuid4().hex
    for event in ("ringing", "missed"):
        async with counted_hops(app) as hops:
            await _post(client, tenant.slug, call_id=missed, event=event)
        assert len(hops) == 1, (event, hops)
    async for session in session_scope(app.state.sessionmaker):
        states = await session.scalars(
            select(Call.state).where(Call.tenant_id == tenant.id).order_by(Call.id)
        )
        assert list(states) == ["ringing", "ended", "missed"]


class _CountingProtocol:
    """asyncpg's protocol, counting its round trips (prepare, execute, simple query)."""

    TRIPS = frozenset({"prepare", "bind_execute", "bind_execute_many", "query", "bind", "execute"})

    def __init__(self, inner: Any, trips: list[str]) -> None:
        self._inner, self._trips = inner, trips

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in self.TRIPS:
            return attr

        async def counted(*args: Any, **kwargs: Any) -> Any:
            self._trips.append(name)
            return await attr(*args, **kwargs)

        return counted


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # counts asyncpg's
async def test_a_postgres_event_is_two_round_trips_a_first_ringing_and_a_retry_one(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx, database_url: str
) -> None:
    assert app.state.engine.dialect.name == "postgresql"
    await seed(app, tenant.id, utcnow())
    provider: TenantProvider = await _tenant_provider(app, api, tenant)
    # One connection, so the statements it has prepared are the ones counted against.
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0)
    try:
        recorder = EventRecorder(
            sessionmaker=create_sessionmaker(engine),
            routes=app.state.routes,
            store=hot_store_for(engine),
        )
        steps = [_event(RING, 0), _event(ANSWER, 1, answered_by="201"), _event(END, 2)]
        for step in steps:  # each statement's first run prepares it, once per connection
            await recorder.record(provider, [step("warm-up")])
        await recorder.record(
            provider, [_event(RING, 0)("warm-up-missed"), _event(MISS, 1)("warm-up-missed")]
        )
        async with engine.connect() as connection:
            driver: Any = (await connection.get_raw_connection()).driver_connection
        trips: list[str] = []
        driver._protocol = _CountingProtocol(driver._protocol, trips)
        try:
            call_id = uuid.uuid4().hex
            for number, step in enumerate(steps):
                trips.clear()
                _outcome, pops = await recorder.record(provider, [step(call_id)])
                # The ringing creates the call: read and recorded by one statement (CLAIM).
                expected = ["bind_execute"] * (1 if number == 0 else 2)
                assert pops and trips == expected, trips
                trips.clear()
                assert await recorder.record(provider, [step(call_id)]) == (
                    _outcome.__class__(),
                    [],
                )
                assert trips == ["bind_execute"], trips
            trips.clear()
            await recorder.record(provider, [_event(RING, 0)("missed"), _event(MISS, 1)("missed")])
            assert len(trips) == 3, trips
        finally:
            driver._protocol = driver._protocol._inner
    finally:
        await engine.dispose()


async def test_a_calls_first_events_arriving_together_are_both_recorded(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    """Both read that the call does not exist yet; the second write finds it made."""
    callers = await seed(app, tenant.id, utcnow())
    provider: TenantProvider = await _tenant_provider(app, api, tenant)
    recorder = EventRecorder(
        sessionmaker=app.state.sessionmaker,
        routes=app.state.routes,
        store=hot_store_for(app.state.engine),
    )
    for attempt in range(5):
        call_id = f"together-{attempt}"
        ring, answer = _event(RING, 0)(call_id), _event(ANSWER, 1, answered_by="201")(call_id)
        results = await asyncio.gather(
            recorder.record(provider, [ring]), recorder.record(provider, [answer])
        )
        # The answer pops, whichever came first (a ringing after it pops nothing).
        assert [pop.type for _, pops in results for _, pop in pops][-1] == "call.answered"
        async for session in session_scope(app.state.sessionmaker):
            call = await session.scalar(
                select(Call).where(Call.tenant_id == tenant.id, Call.provider_call_id == call_id)
            )
            assert call is not None
            assert (call.state, call.answered_by_agent_id) == ("answered", callers.sanne)
            assert call.contact_id == callers.ada
            events = await session.scalars(
                select(CallEventRecord.kind).where(CallEventRecord.call_id == call.id)
            )
            assert sorted(events) == ["answered", "ringing"]
