"""What all connectors share: backoff, the outbox, keepalive, settings, the per-call book."""

from __future__ import annotations

import asyncio
import logging
import random

import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError

from app.calls.receiver import ProviderNotConnected
from app.connectors.base import Backoff, ConnectorState
from app.connectors.config import ConnectorSettings
from app.connectors.delivery import Delivery
from app.connectors.lifespan import connector_states
from telephony_adapters.base import CallEvent, EventKind
from telephony_adapters.pbx_calls import CallBook, dialled_extension, endpoint_of
from tests.conftest import TenantCtx
from tests.support.fake_pbx import FakeAmi, FakeEsl
from tests.support.pbx_cases import quick_settings, running, wait_until


def event(call_id: str) -> CallEvent:
    return CallEvent(
        provider="test", call_id=call_id, kind=EventKind.RINGING, from_raw="", to_raw=""
    )


# --- backoff ----------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_the_cap_and_resets() -> None:
    backoff = Backoff(1.0, 8.0, rng=random.Random(7))
    delays = [backoff.next() for _ in range(6)]
    for delay, ceiling in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert len(set(delays)) == len(delays)  # jittered, not in step
    backoff.reset()
    assert 0.5 <= backoff.next() <= 1.0


# --- the outbox -------------------------------------------------------------------------


async def test_outbox_retries_while_the_database_is_down_and_keeps_order() -> None:
    delivered: list[str] = []
    outages: list[Exception] = [
        OSError("connection refused"),
        OperationalError("SELECT 1", {}, OSError("gone")),
    ]

    async def ingest(events: list[CallEvent]) -> None:
        if outages:
            raise outages.pop(0)
        delivered.extend(e.call_id for e in events)

    delivery = Delivery("test", ingest, retry_initial=0.01, retry_max=0.02)
    await delivery.start()
    for call_id in ("a", "b", "c"):
        delivery.put([event(call_id)])

    async def all_delivered() -> bool:
        return delivered == ["a", "b", "c"]

    await wait_until(all_delivered, "events delivered after the outage")
    await delivery.stop()
    assert (delivery.delivered, delivery.dropped, delivery.pending) == (3, 0, 0)


async def test_outbox_drops_what_the_app_refuses_for_good(caplog: pytest.LogCaptureFixture) -> None:
    delivered: list[str] = []
    attempts: dict[str, int] = {}

    async def ingest(events: list[CallEvent]) -> None:
        call_id = events[0].call_id
        attempts[call_id] = attempts.get(call_id, 0) + 1
        if call_id == "not-connected":
            raise ProviderNotConnected("Provider 'test' is not connected")
        if call_id == "bug":
            raise ValueError("a bug")
        delivered.append(call_id)

    delivery = Delivery("test", ingest, retry_initial=0.01)
    await delivery.start()
    with caplog.at_level(logging.WARNING, logger="stamgast.connectors"):
        for call_id in ("not-connected", "bug", "fine"):
            delivery.put([event(call_id)])
        await delivery.stop(drain_seconds=5)
    assert delivered == ["fine"]
    assert attempts == {"not-connected": 1, "bug": 2, "fine": 1}  # a bug is retried once
    assert delivery.dropped == 2
    assert "is not connected" in caplog.text


async def test_outbox_is_bounded_dropping_the_oldest() -> None:
    release = asyncio.Event()
    delivered: list[str] = []

    async def ingest(events: list[CallEvent]) -> None:
        await release.wait()
        delivered.append(events[0].call_id)

    delivery = Delivery("test", ingest, limit=2)
    await delivery.start()
    delivery.put([event("first")])
    await asyncio.sleep(0.01)  # "first" is being delivered (stuck)
    for call_id in ("second", "third", "fourth"):
        delivery.put([event(call_id)])
    release.set()
    await delivery.stop(drain_seconds=5)
    assert delivered == ["first", "third", "fourth"]
    assert delivery.dropped == 1


# --- keepalive --------------------------------------------------------------------------


async def test_quiet_connection_is_probed_and_a_silent_one_replaced(
    app: FastAPI, tenant: TenantCtx
) -> None:
    fake = await FakeAmi([[]], secret="s3cret-value").start()
    settings = quick_settings(
        ami_host="127.0.0.1",
        ami_port=fake.port,
        ami_user="stamgast",
        ami_secret="s3cret-value",
        ami_tenant=tenant.slug,
        connector_idle_seconds=0.1,
    )
    try:
        async with running(app, settings) as [connector]:

            async def probed_twice() -> bool:
                return fake.probes >= 2

            await wait_until(probed_twice, "two keepalive probes answered")
            assert fake.connections == 1 and connector.state is ConnectorState.CONNECTED
            fake.answer_probes = False

            async def replaced() -> bool:
                return fake.connections >= 2

            await wait_until(replaced, "the silent connection replaced")
            assert connector.last_error == "no answer for 0.2s"
    finally:
        await fake.stop()


async def test_esl_keepalive_probe(app: FastAPI, tenant: TenantCtx) -> None:
    fake = await FakeEsl([[]], password="ClueCon-0123").start()
    settings = quick_settings(
        esl_host="127.0.0.1",
        esl_port=fake.port,
        esl_password="ClueCon-0123",
        esl_tenant=tenant.slug,
        connector_idle_seconds=0.1,
    )
    try:
        async with running(app, settings):

            async def probed() -> bool:
                return fake.probes >= 2

            await wait_until(probed, "two keepalive probes answered")
            assert fake.connections == 1
    finally:
        await fake.stop()


# --- settings and the lifespan ----------------------------------------------------------


def test_settings_come_from_the_environment_and_must_be_complete(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STAMGAST_ESL_HOST", "pbx.local")
    monkeypatch.setenv("STAMGAST_ESL_PASSWORD", "ClueCon")
    monkeypatch.setenv("STAMGAST_ESL_TENANT", "acme")
    settings = ConnectorSettings(_env_file=None)
    assert (settings.esl_host, settings.esl_port, settings.esl_tenant) == (
        "pbx.local",
        8021,
        "acme",
    )
    assert "ClueCon" not in repr(settings)
    monkeypatch.setenv("STAMGAST_AMI_HOST", "pbx.local")
    with pytest.raises(ValidationError) as refused:
        ConnectorSettings(_env_file=None)
    assert "STAMGAST_AMI_USER, STAMGAST_AMI_SECRET, STAMGAST_AMI_TENANT" in str(refused.value)


async def test_nothing_configured_starts_nothing(app: FastAPI) -> None:
    async with running(app, quick_settings()) as connectors:
        assert connectors == []
        assert connector_states(app) == {}


# --- the per-call book ------------------------------------------------------------------


def test_channel_names_and_dial_strings() -> None:
    assert endpoint_of("PJSIP/201-0000001a") == "201"
    assert endpoint_of("SIP/trunk-provider-00000012") == "trunk-provider"
    assert endpoint_of("Local/201@from-internal-00000001;1") == "201"
    assert endpoint_of("sofia/internal/201@192.168.1.20") == "201"
    assert endpoint_of("garbage") is None
    assert dialled_extension("PJSIP/201") == "201"
    assert dialled_extension("201@trunk") == "201"
    assert dialled_extension("Local/201@from-queue/n") == "201"
    assert dialled_extension("PJSIP/201&PJSIP/202") is None


def test_book_forgets_the_oldest_calls_beyond_its_bound() -> None:
    book = CallBook("test", max_calls=2)
    for n in range(3):
        book.start(f"c{n}", first_leg=f"leg{n}", caller="+3161234567", caller_name=None, called="")
    assert len(book) == 2
    assert book.get("c0") is None and book.of_leg("leg0") is None
    assert book.of_leg("leg2") is not None
