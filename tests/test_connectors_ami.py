"""Asterisk AMI: the parser and call tracker, then the connector against a fake Asterisk."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.connectors.base import ConnectorState
from app.connectors.lifespan import connector_states
from app.models import Call
from telephony_adapters.asterisk_ami import (
    AmiCallTracker,
    AmiParser,
    AmiProtocolError,
    format_action,
    login_action,
)
from telephony_adapters.base import EventKind, NumberStyle
from tests.conftest import TenantCtx
from tests.support import vendor_fixtures
from tests.support.fake_pbx import FIXTURES, FakeAmi, blocks
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

ANSWERED = blocks(FIXTURES / "asterisk" / "ami_answered.txt")
MISSED = blocks(FIXTURES / "asterisk" / "ami_missed.txt")
SECRET = "ami-secret-0123"


def wire(*messages: str) -> bytes:
    return b"".join(m.replace("\n", "\r\n").encode() + b"\r\n\r\n" for m in messages)


def parsed(*recordings: list[str]) -> list[dict[str, str]]:
    messages = [message for recording in recordings for message in recording]
    return AmiParser().feed(b"Asterisk Call Manager/7.0.3\r\n" + wire(*messages))


# --- the wire format --------------------------------------------------------------------


def test_parser_reads_banner_and_messages_split_anywhere() -> None:
    data = b"Asterisk Call Manager/7.0.3\r\n" + wire(*ANSWERED)
    whole = AmiParser().feed(data)
    assert len(whole) == len(ANSWERED)
    assert whole[1]["Event"] == "Newchannel" and whole[1]["CallerIDName"] == "Ada de Vries"
    assert whole[1]["AccountCode"] == ""
    parser = AmiParser()
    pieces = [message for i in range(0, len(data), 7) for message in parser.feed(data[i : i + 7])]
    assert pieces == whole
    assert parser.banner == "Asterisk Call Manager/7.0.3"


def test_parser_accepts_bare_newlines_and_refuses_what_is_not_ami() -> None:
    parser = AmiParser()
    assert parser.feed(b"Asterisk Call Manager/5.0.1\nResponse: Success\nPing: Pong\n\n") == [
        {"Response": "Success", "Ping": "Pong"}
    ]
    with pytest.raises(AmiProtocolError, match="not an Asterisk manager"):
        AmiParser().feed(b"HTTP/1.1 400 Bad Request\r\n")
    with pytest.raises(AmiProtocolError, match="line longer"):
        AmiParser().feed(b"Asterisk Call Manager/7.0.3\r\n" + b"x" * 20_000)


def test_actions_are_formatted_and_injection_refused() -> None:
    assert login_action("stamgast", "s3cret", "id1") == (
        b"Action: Login\r\nUsername: stamgast\r\nSecret: s3cret\r\nEvents: on\r\n"
        b"ActionID: id1\r\n\r\n"
    )
    with pytest.raises(ValueError, match="line breaks"):
        format_action("Login", {"Secret": "x\r\n\r\nAction: Originate"})


# --- the call tracker -------------------------------------------------------------------


def test_answered_call_maps_to_ringing_answered_ended() -> None:
    events = AmiCallTracker().feed(parsed(ANSWERED))
    assert [e.kind for e in events] == [EventKind.RINGING, EventKind.ANSWERED, EventKind.ENDED]
    ringing, answered, ended = events
    assert {e.call_id for e in events} == {"1714557600.42"}
    assert (ringing.from_raw, ringing.to_raw, ringing.caller_name) == (
        "+31612345678",
        "31331234567",
        "Ada de Vries",
    )
    assert ringing.ringing_extension == "201"
    assert answered.answered_by == "201"
    assert ended.raw["Cause"] == "16"
    assert all(e.provider == "asterisk_ami" for e in events)


def test_ring_group_rings_without_extension_and_no_answer_is_missed() -> None:
    events = AmiCallTracker().feed(parsed(MISSED))
    assert [(e.kind, e.ringing_extension) for e in events] == [
        (EventKind.RINGING, None),
        (EventKind.MISSED, None),
    ]
    assert events[0].caller_name is None  # "<unknown>" is no name


def test_one_message_at_a_time_rings_the_first_extension_and_never_duplicates() -> None:
    tracker = AmiCallTracker()
    events = [e for m in parsed(ANSWERED, MISSED) for e in tracker.feed([m])]
    assert [(e.call_id, e.kind) for e in events] == [
        ("1714557600.42", EventKind.RINGING),
        ("1714557600.42", EventKind.ANSWERED),
        ("1714557600.42", EventKind.ENDED),
        ("1714558200.50", EventKind.RINGING),
        ("1714558200.50", EventKind.MISSED),
    ]
    assert events[3].ringing_extension == "201"
    assert len(tracker.book) == 0  # finished calls are forgotten


def test_hangup_before_any_dial_rings_then_ends_and_internal_calls_are_skipped() -> None:
    newchannel, hangup = parsed(MISSED)[0], parsed(MISSED)[-1]
    abandoned = AmiCallTracker().feed([newchannel, {**hangup, "Cause": "16"}])
    assert [(e.kind, e.ringing_extension) for e in abandoned] == [
        (EventKind.RINGING, None),
        (EventKind.ENDED, None),  # the app records an unanswered end as missed
    ]
    internal = {**newchannel, "CallerIDNum": "201"}
    assert AmiCallTracker().feed([internal, hangup]) == []
    # A call already dialled when we connected (mid-call) is not reported.
    assert AmiCallTracker().feed(parsed(ANSWERED)[5:]) == []


def test_queue_through_local_channels_is_one_call() -> None:
    trunk = {"Uniqueid": "9.1", "Linkedid": "9.1", "Channel": "PJSIP/trunk-00000030"}
    half2 = {"Uniqueid": "9.3", "Linkedid": "9.1", "Channel": "Local/201@from-queue-0007;2"}
    ada = {"CallerIDNum": "+31612345678", "Exten": "31331234567"}
    messages = [
        {"Event": "Newchannel", **trunk, **ada},
        {"Event": "Newchannel", "Uniqueid": "9.2", "Linkedid": "9.1", **ada},
        {"Event": "Newchannel", **half2, **ada},
        {"Event": "DialBegin", **trunk, "DestUniqueid": "9.2", "DestCallerIDNum": "+31612345678",
         "DestExten": "31331234567", "DestChannel": "Local/201@from-queue-0007;1"},
        {"Event": "DialBegin", **half2, "DestUniqueid": "9.4", "DestCallerIDNum": "201",
         "DestChannel": "PJSIP/201-00000031"},
        {"Event": "DialEnd", **half2, "DestUniqueid": "9.4", "DialStatus": "ANSWER"},
        {"Event": "DialEnd", **trunk, "DestUniqueid": "9.2", "DialStatus": "ANSWER"},
        {"Event": "Hangup", **half2, "Cause": "16"},
        {"Event": "Hangup", **trunk, "Cause": "16"},
    ]  # fmt: skip
    found = AmiCallTracker().feed(messages)
    assert [(e.call_id, e.kind, e.ringing_extension, e.answered_by) for e in found] == [
        ("9.1", EventKind.RINGING, "201", None),
        ("9.1", EventKind.ANSWERED, None, "201"),
        ("9.1", EventKind.ENDED, None, None),
    ]


def test_timestamps_are_used_when_asterisk_sends_them() -> None:
    messages = [{**m, "Timestamp": "1714557600.250000"} for m in parsed(ANSWERED)]
    events = AmiCallTracker().feed(messages)
    assert events[0].occurred_at is not None
    assert events[0].occurred_at.timestamp() == pytest.approx(1714557600.25)


# --- the connector against a fake Asterisk ----------------------------------------------


def ami_settings(fake: FakeAmi, tenant: TenantCtx, secret: str = SECRET) -> dict[str, object]:
    return {
        "ami_host": "127.0.0.1",
        "ami_port": fake.port,
        "ami_user": "stamgast",
        "ami_secret": secret,
        "ami_tenant": tenant.slug,
    }


async def test_recorded_calls_become_calls_interactions_callbacks_and_pops(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    people = await seed(app, tenant)
    await connect_provider(api, "asterisk_ami")
    fake = await FakeAmi([ANSWERED + MISSED], secret=SECRET).start()
    try:
        async with running(app, quick_settings(**ami_settings(fake, tenant))) as [connector]:
            await wait_until(lambda: both_calls_finished(app, tenant), "both calls recorded")
            assert connector.state is ConnectorState.CONNECTED
            assert connector_states(app) == {"connector_asterisk_ami": "connected"}
        assert fake.logins == [
            {
                "Action": "Login",
                "Username": "stamgast",
                "Secret": SECRET,
                "Events": "on",
                "ActionID": "stamgast-login",
            }
        ]
    finally:
        await fake.stop()
    await assert_answered_and_missed(
        app,
        tenant,
        people,
        provider="asterisk_ami",
        answered_id="1714557600.42",
        missed_id="1714558200.50",
        missed_rang={people.sanne, people.youssef},
    )


async def test_dropped_connection_reconnects_and_the_call_continues(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    people = await seed(app, tenant)
    await connect_provider(api, "asterisk_ami")
    # The connection drops after the answered call's DialBegin: it rings, then goes silent.
    fake = await FakeAmi([ANSWERED[:5], ANSWERED[5:] + MISSED], secret=SECRET).start()
    try:
        async with running(app, quick_settings(**ami_settings(fake, tenant))) as [connector]:
            await wait_until(lambda: both_calls_finished(app, tenant), "both calls recorded")
            assert fake.logins_ok == 2 and fake.connections == 2
            assert connector.state is ConnectorState.CONNECTED
            assert connector.last_error == "the phone system closed the connection"
    finally:
        await fake.stop()
    await assert_answered_and_missed(
        app,
        tenant,
        people,
        provider="asterisk_ami",
        answered_id="1714557600.42",
        missed_id="1714558200.50",
        missed_rang={people.sanne, people.youssef},
    )


async def test_bad_secret_shows_in_state_and_keeps_retrying(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await connect_provider(api, "asterisk_ami")
    fake = await FakeAmi([ANSWERED], secret=SECRET).start()
    try:
        settings = quick_settings(**ami_settings(fake, tenant, secret="wrong-secret"))
        async with running(app, settings) as [connector]:

            async def refused_thrice() -> bool:
                return fake.logins_refused >= 3

            await wait_until(refused_thrice, "three refused logins")
            assert connector.state in (ConnectorState.BACKOFF, ConnectorState.CONNECTING)
            assert connector.last_error == "AMI login refused: Authentication failed"
            [state] = connector_states(app).values()
            assert state.endswith(": AMI login refused: Authentication failed")
            assert (await client.get("/healthz")).status_code == 200
        assert connector.state.value == "stopped"
        assert fake.logins_ok == 0
    finally:
        await fake.stop()
    assert await rows(app, Call, tenant) == []


async def test_unreachable_asterisk_is_retried_without_crashing(
    app: FastAPI, tenant: TenantCtx
) -> None:
    fake = await FakeAmi([], secret=SECRET).start()
    await fake.stop()  # nothing listens on its port any more
    async with running(app, quick_settings(**ami_settings(fake, tenant))) as [connector]:

        async def retried() -> bool:
            return getattr(connector, "attempts", 0) >= 3

        await wait_until(retried, "three connection attempts")
        assert connector.last_error is not None
        assert connector.last_error.startswith(f"cannot connect to 127.0.0.1:{fake.port}")


# --- final events and the AMI specification's own examples ------------------------------


def test_final_events_say_whether_an_agent_answered() -> None:
    [*_, ended] = AmiCallTracker().feed(parsed(ANSWERED))
    [*_, unanswered] = AmiCallTracker().feed(parsed(MISSED))
    assert (ended.kind, ended.person_answered) == (EventKind.ENDED, True)
    assert unanswered.person_answered is False
    assert {ended.number_style, unanswered.number_style} == {NumberStyle.DIALLED}


def spec_examples() -> list[dict[str, str]]:
    """The AMI v2 specification's dial examples; its "..." lines end (elided) events."""
    text = vendor_fixtures.load("asterisk", "ami_docs_dial.txt").text
    stream = "\n".join("" if line.strip() in ("...", "…") else line for line in text.splitlines())
    return AmiParser().feed(b"Asterisk Call Manager/7.0.3\r\n" + stream.encode() + b"\n\n")


def test_specification_dial_examples_ring_and_answer_by_the_dialled_endpoint() -> None:
    messages = spec_examples()
    assert [m["Event"] for m in messages] == [
        *("Newchannel", "DialBegin", "DialEnd"),
        *("Newchannel", "DialBegin", "DialEnd", "Hangup"),
    ]
    events = AmiCallTracker().feed(messages)
    # Kermit's own Newchannel is not in the examples: each call starts at its DialBegin.
    assert [(e.call_id, e.kind, e.ringing_extension, e.answered_by) for e in events] == [
        ("asterisk-1368479155.1", EventKind.RINGING, "animal", None),
        ("asterisk-1368479155.1", EventKind.ANSWERED, None, "animal"),
        ("asterisk-1368479150.1", EventKind.RINGING, "animal", None),  # TIMEDOUT: rang only
    ]
    # The failed dial's Hangup is Animal's channel, not the caller's: the call goes on.
    assert all(e.kind is not EventKind.ENDED for e in events)
