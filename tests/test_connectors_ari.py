"""Asterisk ARI: the URL and call tracker, then the connector against a fake Asterisk."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.connectors.base import ConnectorState
from app.connectors.lifespan import connector_states
from app.models import Call
from telephony_adapters.asterisk_ari import (
    AriCallTracker,
    AriProtocolError,
    events_url,
    parse_event,
)
from telephony_adapters.base import EventKind, NumberStyle
from tests.conftest import TenantCtx
from tests.support.fake_pbx import FIXTURES, FakeAri, ari_events
from tests.support.pbx_cases import (
    assert_answered_and_missed,
    both_calls_finished,
    connect_provider,
    quick_settings,
    rows,
    running,
    seed,
    wait_until,
)

ANSWERED = ari_events(FIXTURES / "asterisk" / "ari_answered.json")
MISSED = ari_events(FIXTURES / "asterisk" / "ari_missed.json")
PASSWORD = "ari-password-0123"


# --- the URL and messages ---------------------------------------------------------------


def test_events_url_from_the_base_url() -> None:
    assert events_url("ws://pbx:8088", "stamgast") == (
        "ws://pbx:8088/ari/events?app=stamgast&subscribeAll=true"
    )
    assert events_url("https://pbx.example/ari/", "a b", subscribe_all=False) == (
        "wss://pbx.example/ari/events?app=a+b"
    )
    with pytest.raises(ValueError, match="ws://"):
        events_url("ftp://pbx", "stamgast")


def test_parse_event_refuses_what_is_not_an_event() -> None:
    assert parse_event('{"type": "Dial"}') == {"type": "Dial"}
    for junk in ("not json", "[1, 2]", '{"no": "type"}'):
        with pytest.raises(AriProtocolError):
            parse_event(junk)


# --- the call tracker -------------------------------------------------------------------


def test_stasis_call_answered_by_201() -> None:
    events = AriCallTracker().feed(ANSWERED)
    assert [e.kind for e in events] == [EventKind.RINGING, EventKind.ANSWERED, EventKind.ENDED]
    ringing, answered, ended = events
    assert {e.call_id for e in events} == {"1714557600.60"}
    assert (ringing.from_raw, ringing.to_raw, ringing.caller_name) == (
        "+31612345678",
        "31331234567",
        "Ada de Vries",
    )
    assert ringing.ringing_extension == "201" and answered.answered_by == "201"
    assert ringing.occurred_at is not None and ringing.occurred_at.isoformat() == (
        "2024-05-01T10:00:00.120000+02:00"  # when the call entered the Stasis app
    )
    assert ended.raw["cause_txt"] == "Normal Clearing"


def test_subscribe_all_call_missed_while_202_rang() -> None:
    tracker = AriCallTracker()
    events = [e for event in MISSED for e in tracker.feed([event])]
    assert [(e.kind, e.ringing_extension) for e in events] == [
        (EventKind.RINGING, "202"),
        (EventKind.ENDED, None),  # cause 16: the caller gave up; the app records it missed
    ]
    assert events[0].caller_name is None


def test_answer_by_state_change_and_missed_causes() -> None:
    without_dial_answer = [e for e in ANSWERED if e.get("dialstatus") != "ANSWER"]
    events = AriCallTracker().feed(without_dial_answer)
    assert [(e.kind, e.answered_by) for e in events][1] == (EventKind.ANSWERED, "201")
    busy = copy.deepcopy(MISSED)
    busy[-1]["cause"] = 17
    assert AriCallTracker().feed(busy)[-1].kind is EventKind.MISSED


def test_caller_channel_up_is_an_application_answer_and_legs_never_start_calls() -> None:
    trunk_up: dict[str, Any] = copy.deepcopy(ANSWERED[6])
    assert trunk_up["channel"]["state"] == "Up"
    events = AriCallTracker().feed([ANSWERED[0], trunk_up])
    # The app answered the caller's channel: the card pops, nobody has the caller yet.
    assert [(e.kind, e.by_application, e.answered_by) for e in events] == [
        (EventKind.RINGING, False, None),
        (EventKind.ANSWERED, True, None),
    ]
    # An agent's channel created without linkedid is not a call of its own.
    assert AriCallTracker().feed([ANSWERED[1]]) == []


def channel(channel_id: str, name: str, number: str, exten: str = "s", **extra: Any) -> Any:
    return {
        "id": channel_id,
        "name": name,
        "state": "Down",
        "caller": {"name": "", "number": number},
        "dialplan": {"context": "from-trunk", "exten": exten, "priority": 1},
        **extra,
    }


def test_linkedid_groups_legs_where_asterisk_sends_it() -> None:
    trunk_id = ANSWERED[0]["channel"]["id"]
    with_linkedid = copy.deepcopy(ANSWERED)
    for event in with_linkedid:
        for part in ("channel", "caller", "peer"):
            if part in event:
                event[part]["linkedid"] = trunk_id
    with_linkedid[0]["type"] = "ChannelCreated"  # no Stasis: the call starts when created
    found = AriCallTracker().feed(with_linkedid)
    assert [(e.call_id, e.kind) for e in found] == [
        (trunk_id, EventKind.RINGING),
        (trunk_id, EventKind.ANSWERED),
        (trunk_id, EventKind.ENDED),
    ]


def test_queue_through_local_channels_is_one_call() -> None:
    trunk = channel("t1", "PJSIP/trunk-00000030", "+31612345678", "31331234567")
    half1 = channel("l1", "Local/201@from-queue-00000007;1", "+31612345678")
    half2 = channel("l2", "Local/201@from-queue-00000007;2", "+31612345678")
    phone = channel("p1", "PJSIP/201-00000031", "201")
    events: list[dict[str, Any]] = [
        *({"type": "ChannelCreated", "channel": c} for c in (trunk, half1, half2, phone)),
        {"type": "Dial", "caller": trunk, "peer": half1, "dialstring": "201@from-queue/n"},
        {"type": "Dial", "caller": half2, "peer": phone, "dialstring": "PJSIP/201"},
        {"type": "Dial", "caller": half2, "peer": phone, "dialstatus": "ANSWER"},
        {"type": "Dial", "caller": trunk, "peer": half1, "dialstatus": "ANSWER"},
        *({"type": "ChannelDestroyed", "cause": 16, "channel": c} for c in (phone, half2, half1)),
        {"type": "ChannelDestroyed", "cause": 16, "channel": trunk},
    ]
    found = AriCallTracker().feed(events)
    assert [(e.call_id, e.kind, e.ringing_extension, e.answered_by) for e in found] == [
        ("t1", EventKind.RINGING, "201", None),
        ("t1", EventKind.ANSWERED, None, "201"),
        ("t1", EventKind.ENDED, None, None),
    ]
    assert (found[0].from_raw, found[0].to_raw) == ("+31612345678", "31331234567")


def test_agents_own_calls_and_undialled_channels_report_nothing() -> None:
    agent = channel("a1", "PJSIP/201-00000040", "201")
    mobile = channel("m1", "PJSIP/trunk-00000041", "0612345678")
    tracker = AriCallTracker()
    outgoing = [
        {"type": "ChannelCreated", "channel": agent},
        {"type": "Dial", "caller": agent, "peer": mobile, "dialstring": "trunk/0612345678"},
        {"type": "ChannelDestroyed", "cause": 16, "channel": agent},
    ]
    assert tracker.feed(outgoing) == []
    lone = channel("x1", "PJSIP/trunk-00000042", "+31612345678")
    assert tracker.feed([{"type": "ChannelCreated", "channel": lone}]) == []
    assert tracker.feed([{"type": "ChannelDestroyed", "cause": 16, "channel": lone}]) == []
    assert len(tracker.book) == 0


# --- the connector against a fake Asterisk ----------------------------------------------


def ari_settings(fake: FakeAri, tenant: TenantCtx, password: str = PASSWORD) -> dict[str, object]:
    return {
        "ari_url": f"ws://127.0.0.1:{fake.port}",
        "ari_app": "stamgast",
        "ari_user": "stamgast",
        "ari_password": password,
        "ari_tenant": tenant.slug,
    }


async def test_recorded_calls_become_calls_interactions_callbacks_and_pops(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    people = await seed(app, tenant)
    await connect_provider(api, "asterisk_ari")
    fake = await FakeAri([ANSWERED + MISSED], password=PASSWORD).start()
    try:
        async with running(app, quick_settings(**ari_settings(fake, tenant))) as [connector]:
            await wait_until(lambda: both_calls_finished(app, tenant), "both calls recorded")
            assert connector.state is ConnectorState.CONNECTED
            assert connector_states(app) == {"connector_asterisk_ari": "connected"}
        assert fake.paths == ["/ari/events?app=stamgast&subscribeAll=true"]
    finally:
        await fake.stop()
    await assert_answered_and_missed(
        app,
        tenant,
        people,
        provider="asterisk_ari",
        answered_id="1714557600.60",
        missed_id="1714558200.70",
        missed_rang={people.youssef},
    )


async def test_dropped_connection_reconnects_and_the_call_continues(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    people = await seed(app, tenant)
    await connect_provider(api, "asterisk_ari")
    # The WebSocket closes after 201 starts ringing; the rest comes on the next connection.
    fake = await FakeAri([ANSWERED[:4], ANSWERED[4:] + MISSED], password=PASSWORD).start()
    try:
        async with running(app, quick_settings(**ari_settings(fake, tenant))) as [connector]:
            await wait_until(lambda: both_calls_finished(app, tenant), "both calls recorded")
            assert fake.connections == 2
            assert connector.state is ConnectorState.CONNECTED
            assert connector.last_error is not None
            assert connector.last_error.startswith("the phone system closed the connection")
    finally:
        await fake.stop()
    await assert_answered_and_missed(
        app,
        tenant,
        people,
        provider="asterisk_ari",
        answered_id="1714557600.60",
        missed_id="1714558200.70",
        missed_rang={people.youssef},
    )


async def test_bad_password_shows_in_state_and_keeps_retrying(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await connect_provider(api, "asterisk_ari")
    fake = await FakeAri([ANSWERED], password=PASSWORD).start()
    try:
        settings = quick_settings(**ari_settings(fake, tenant, password="wrong-password"))
        async with running(app, settings) as [connector]:

            async def refused_thrice() -> bool:
                return fake.logins_refused >= 3

            await wait_until(refused_thrice, "three refused handshakes")
            assert connector.last_error == "ARI refused the credentials (HTTP 401)"
            [state] = connector_states(app).values()
            assert state.endswith(": ARI refused the credentials (HTTP 401)")
            assert (await client.get("/healthz")).status_code == 200
        assert fake.connections == 0
    finally:
        await fake.stop()
    assert await rows(app, Call, tenant) == []


async def test_wrong_app_name_is_reported(app: FastAPI, tenant: TenantCtx) -> None:
    fake = await FakeAri([], app="other-app", password=PASSWORD).start()
    try:
        async with running(app, quick_settings(**ari_settings(fake, tenant))) as [connector]:

            async def refused() -> bool:
                return connector.last_error is not None

            await wait_until(refused, "the handshake refused")
            assert connector.last_error == "ARI refused the WebSocket (HTTP 400)"
    finally:
        await fake.stop()


# --- replaying vendor captures and our Stasis edge case ---------------------------------


def test_cgrates_capture_stasis_app_answers_the_caller_itself() -> None:
    """A real Asterisk 13 capture (CGRateS' tests): its numbers are extensions, 1001 → 1002."""
    captured = ari_events(FIXTURES / "asterisk" / "ari_cgrates_stasis_answered.json")
    assert AriCallTracker().feed(captured) == []  # 1001 is an extension: an internal call
    events = AriCallTracker(internal_max_digits=0).feed(captured)
    assert [(e.kind, e.by_application, e.person_answered) for e in events] == [
        (EventKind.RINGING, False, None),
        (EventKind.ANSWERED, True, None),  # the caller's own channel went Up
        # No agent channel appears in the capture: the data shows no person answering.
        (EventKind.ENDED, False, False),
    ]
    assert {e.call_id for e in events} == {"1473681228.6"}
    assert {(e.from_raw, e.to_raw, e.direction.value) for e in events} == {
        ("1001", "1002", "inbound")
    }
    assert {e.number_style for e in events} == {NumberStyle.DIALLED}
    assert [e.occurred_at.isoformat() for e in events if e.occurred_at] == [
        "2016-09-12T13:53:48.919000+02:00",
        "2016-09-12T13:53:52.110000+02:00",
        "2016-09-12T13:54:27.335000+02:00",
    ]
    assert events[-1].raw["cause_txt"] == "Normal Clearing"


def test_cgrates_capture_of_a_channel_we_never_saw_start_reports_nothing() -> None:
    [destroyed] = ari_events(FIXTURES / "asterisk" / "ari_cgrates_unanswered_destroyed.json")
    assert (destroyed["channel"]["state"], destroyed["cause"]) == ("Ring", 16)
    assert AriCallTracker(internal_max_digits=0).feed([destroyed]) == []


def test_documented_hello_world_call_is_answered_by_the_dialplan_before_the_app() -> None:
    """Asterisk's Getting Started with ARI: the channel is Up when it enters the app."""
    start, end = ari_events(FIXTURES / "asterisk" / "ari_docs_hello_world.json")
    events = AriCallTracker().feed([start, end])
    assert [(e.kind, e.by_application, e.call_id) for e in events] == [
        (EventKind.RINGING, False, "1400609726.3"),
        (EventKind.ANSWERED, True, "1400609726.3"),
    ]  # StasisEnd only means the channel left the app: the call goes on in the dialplan
    assert (events[0].from_raw, events[0].to_raw) == ("", "1000")


STASIS_BRIDGE = ari_events(FIXTURES / "asterisk" / "ari_stasis_bridge.json")


def test_stasis_app_answers_then_bridges_an_agent_it_originated() -> None:
    tracker = AriCallTracker()
    events = [e for event in STASIS_BRIDGE for e in tracker.feed([event])]
    assert [(e.kind, e.by_application, e.answered_by, e.person_answered) for e in events] == [
        (EventKind.RINGING, False, None, None),  # popped on entering the app
        (EventKind.ANSWERED, True, None, None),  # the app answered: still waiting for a person
        (EventKind.ANSWERED, False, "201", None),  # 201 entered the caller's bridge
        (EventKind.ENDED, False, None, True),
    ]
    assert {e.call_id for e in events} == {"1714561200.80"}  # the agent's leg is no call
    assert {(e.from_raw, e.to_raw) for e in events} == {("+31612345678", "31331234567")}
    assert len(tracker.book) == 0


def test_stasis_app_answered_but_caller_left_before_an_agent_is_not_a_person_answer() -> None:
    caller_only = [STASIS_BRIDGE[0], STASIS_BRIDGE[1], STASIS_BRIDGE[5], STASIS_BRIDGE[-1]]
    events = AriCallTracker().feed(caller_only)
    assert [(e.kind, e.by_application, e.person_answered) for e in events] == [
        (EventKind.RINGING, False, None),
        (EventKind.ANSWERED, True, None),
        (EventKind.ENDED, False, False),
    ]
