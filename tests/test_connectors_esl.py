"""FreeSWITCH ESL: the frame parser and call tracker, then the connector against a fake."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.connectors.base import ConnectorState
from app.connectors.lifespan import connector_states
from app.models import Call
from telephony_adapters.base import EventKind, NumberStyle
from telephony_adapters.freeswitch_esl import (
    SUBSCRIBE,
    EslCallTracker,
    EslParser,
    EslProtocolError,
    auth_command,
    hangup_person_answered,
    parse_event_plain,
)
from tests.conftest import TenantCtx
from tests.support import vendor_fixtures
from tests.support.fake_pbx import FIXTURES, FakeEsl, blocks
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

ANSWERED = blocks(FIXTURES / "freeswitch" / "esl_answered.txt")
MISSED = blocks(FIXTURES / "freeswitch" / "esl_missed.txt")
PASSWORD = "ClueCon-0123"
A_LEG = "6f1c1a2e-0b7d-4c3a-9e2f-1a2b3c4d5e01"
MISSED_A_LEG = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c01"


def frame(block: str) -> bytes:
    body = block.encode() + b"\n\n"
    return b"Content-Length: %d\nContent-Type: text/event-plain\n\n" % len(body) + body


def events(*recordings: list[str]) -> list[dict[str, str]]:
    return [parse_event_plain(block.encode() + b"\n\n") for r in recordings for block in r]


# --- the wire format --------------------------------------------------------------------


def test_parser_splits_frames_anywhere_and_decodes_values() -> None:
    data = (
        b"Content-Type: auth/request\n\n"
        b"Content-Type: command/reply\nReply-Text: +OK accepted\n\n" + frame(ANSWERED[0])
    )
    whole = EslParser().feed(data)
    assert [f.content_type for f in whole] == ["auth/request", "command/reply", "text/event-plain"]
    assert whole[1].reply_ok
    event = parse_event_plain(whole[2].body)
    assert event["Caller-Caller-ID-Number"] == "+31612345678"
    assert event["Caller-Caller-ID-Name"] == "Ada de Vries"
    assert event["Channel-Name"] == "sofia/external/+31612345678@sip.provider.nl"
    parser = EslParser()
    pieces = [f for i in range(0, len(data), 5) for f in parser.feed(data[i : i + 5])]
    assert pieces == whole


def test_event_bodies_and_bad_frames() -> None:
    with_body = b"Event-Name: BACKGROUND_JOB\nContent-Length: 3\n\n+OK"
    assert parse_event_plain(with_body)["_body"] == "+OK"
    with pytest.raises(EslProtocolError, match="Content-Length"):
        EslParser().feed(b"Content-Length: lots\n\n")
    with pytest.raises(EslProtocolError, match="header block"):
        EslParser().feed(b"X" * 70_000)


def test_commands_are_formatted_and_injection_refused() -> None:
    assert auth_command("ClueCon") == b"auth ClueCon\n\n"
    assert SUBSCRIBE == (
        b"event plain CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE\n\n"
    )
    with pytest.raises(ValueError, match="line breaks"):
        auth_command("x\n\napi originate")


# --- the call tracker -------------------------------------------------------------------


def test_answered_call_maps_to_ringing_answered_ended() -> None:
    found = EslCallTracker().feed(events(ANSWERED))
    assert [e.kind for e in found] == [EventKind.RINGING, EventKind.ANSWERED, EventKind.ENDED]
    ringing, answered, ended = found
    assert {e.call_id for e in found} == {A_LEG}
    assert (ringing.from_raw, ringing.to_raw, ringing.caller_name) == (
        "+31612345678",
        "31331234567",
        "Ada de Vries",
    )
    assert ringing.ringing_extension == "201" and answered.answered_by == "201"
    assert ringing.occurred_at is not None
    assert ringing.occurred_at.timestamp() == pytest.approx(1714550400.4)
    assert ended.raw["Hangup-Cause"] == "NORMAL_CLEARING"


def test_answer_from_the_bridge_alone() -> None:
    bridge_only = [e for e in events(ANSWERED) if e["Event-Name"] != "CHANNEL_ANSWER"]
    found = EslCallTracker().feed(bridge_only)
    assert [(e.kind, e.answered_by) for e in found][1] == (EventKind.ANSWERED, "201")


def test_ring_group_cancelled_by_the_caller_is_missed() -> None:
    found = EslCallTracker().feed(events(MISSED))
    assert [(e.call_id, e.kind, e.ringing_extension) for e in found] == [
        (MISSED_A_LEG, EventKind.RINGING, None),
        (MISSED_A_LEG, EventKind.MISSED, None),
    ]
    one_by_one = EslCallTracker()
    singly = [e for event in events(MISSED) for e in one_by_one.feed([event])]
    assert singly[0].ringing_extension == "201"  # fed singly, the first extension rang alone


def test_outbound_and_internal_calls_are_skipped() -> None:
    create, *_rest, hangup = events(ANSWERED)
    outbound = {**create, "Call-Direction": "outbound"}
    assert EslCallTracker().feed([outbound, hangup]) == []
    internal = {**create, "Caller-Caller-ID-Number": "202"}
    assert EslCallTracker().feed([internal, hangup]) == []


# --- the connector against a fake FreeSWITCH --------------------------------------------


def esl_settings(fake: FakeEsl, tenant: TenantCtx, password: str = PASSWORD) -> dict[str, object]:
    return {
        "esl_host": "127.0.0.1",
        "esl_port": fake.port,
        "esl_password": password,
        "esl_tenant": tenant.slug,
    }


async def test_recorded_calls_become_calls_interactions_callbacks_and_pops(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    people = await seed(app, tenant)
    await connect_provider(api, "freeswitch")
    fake = await FakeEsl([ANSWERED + MISSED], password=PASSWORD).start()
    try:
        async with running(app, quick_settings(**esl_settings(fake, tenant))) as [connector]:
            await wait_until(lambda: both_calls_finished(app, tenant), "both calls recorded")
            assert connector.state is ConnectorState.CONNECTED
            assert connector_states(app) == {"connector_freeswitch": "connected"}
        assert fake.commands == [f"auth {PASSWORD}", SUBSCRIBE.decode().strip()]
    finally:
        await fake.stop()
    await assert_answered_and_missed(
        app,
        tenant,
        people,
        provider="freeswitch",
        answered_id=A_LEG,
        missed_id=MISSED_A_LEG,
        missed_rang={people.sanne, people.youssef},
    )


async def test_dropped_connection_reconnects_and_the_call_continues(
    app: FastAPI, api: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    people = await seed(app, tenant)
    await connect_provider(api, "freeswitch")
    # The socket closes after 201's leg is created (it rings); the rest comes after reconnecting.
    fake = await FakeEsl([ANSWERED[:2], ANSWERED[2:] + MISSED], password=PASSWORD).start()
    try:
        async with running(app, quick_settings(**esl_settings(fake, tenant))) as [connector]:
            await wait_until(lambda: both_calls_finished(app, tenant), "both calls recorded")
            assert fake.logins_ok == 2 and fake.connections == 2
            assert connector.state is ConnectorState.CONNECTED
    finally:
        await fake.stop()
    await assert_answered_and_missed(
        app,
        tenant,
        people,
        provider="freeswitch",
        answered_id=A_LEG,
        missed_id=MISSED_A_LEG,
        missed_rang={people.sanne, people.youssef},
    )


async def test_bad_password_shows_in_state_and_keeps_retrying(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await connect_provider(api, "freeswitch")
    fake = await FakeEsl([ANSWERED], password=PASSWORD).start()
    try:
        settings = quick_settings(**esl_settings(fake, tenant, password="wrong-password"))
        async with running(app, settings) as [connector]:

            async def refused_thrice() -> bool:
                return fake.logins_refused >= 3

            await wait_until(refused_thrice, "three refused logins")
            assert connector.last_error == "ESL auth refused: -ERR invalid"
            [state] = connector_states(app).values()
            assert state.endswith(": ESL auth refused: -ERR invalid")
            assert (await client.get("/healthz")).status_code == 200
        assert fake.logins_ok == 0
    finally:
        await fake.stop()
    assert await rows(app, Call, tenant) == []


# --- what a hangup says about a person answering ----------------------------------------


def hangup(name: str) -> dict[str, str]:
    return parse_event_plain(vendor_fixtures.load("freeswitch", name).body + b"\n\n")


def test_real_hangups_of_bridged_calls_show_a_person_answered() -> None:
    answered = hangup("esl_cgrates_hangup_answered.txt")  # CgrDev1, 2015: 1001 → 1003
    assert (answered["Hangup-Cause"], answered["variable_billsec"]) == ("NORMAL_CLEARING", "66")
    assert answered["Caller-Channel-Name"] == "sofia/cgrtest/1001@127.0.0.1"
    assert hangup_person_answered(answered) is True
    bridged = hangup("esl_cgrates_hangup_bridged.txt")  # teo, 2018: 1001 → 1002
    assert (bridged["Other-Leg-Destination-Number"], bridged["variable_billsec"]) == ("1002", "21")
    assert hangup_person_answered(bridged) is True


def test_voicemail_answer_is_not_a_person_and_missing_data_says_nothing() -> None:
    voicemail = hangup("esl_voicemail_hangup.txt")
    assert (
        voicemail["Caller-Channel-Answered-Time"] != "0" and voicemail["variable_billsec"] == "66"
    )
    assert hangup_person_answered(voicemail) is False  # bridged time 0, no other leg
    old = {k: v for k, v in voicemail.items() if k != "Caller-Channel-Bridged-Time"}
    assert hangup_person_answered(old) is True  # no bridge data: billsec decides
    unanswered = {**old, "Caller-Channel-Answered-Time": "0", "variable_billsec": "0"}
    assert hangup_person_answered(unanswered) is False
    assert hangup_person_answered({"Event-Name": "CHANNEL_HANGUP_COMPLETE"}) is None


def test_lost_answer_is_reconciled_from_the_hangup() -> None:
    real = hangup("esl_cgrates_hangup_answered.txt")
    times = {k: v for k, v in real.items() if k.endswith("-Time") or k == "variable_billsec"}
    recorded = events(ANSWERED)
    lost_answer = [
        e for e in recorded if e["Event-Name"] not in ("CHANNEL_ANSWER", "CHANNEL_BRIDGE")
    ]
    a_leg_hangup = next(
        e
        for e in lost_answer
        if e["Event-Name"] == "CHANNEL_HANGUP_COMPLETE" and e["Unique-ID"] == A_LEG
    )
    a_leg_hangup.update(times)  # the A-leg's hangup carries the answer and bridge times
    found = EslCallTracker().feed(lost_answer)
    assert [(e.kind, e.person_answered) for e in found] == [
        (EventKind.RINGING, None),
        (EventKind.ENDED, True),
    ]
    a_leg_hangup.update(
        {"Caller-Channel-Bridged-Time": "0", "Other-Leg-Channel-Answered-Time": "0"}
    )
    [_ringing, ended] = EslCallTracker().feed(lost_answer)
    assert ended.person_answered is False
    assert {e.number_style for e in found} == {NumberStyle.DIALLED}
