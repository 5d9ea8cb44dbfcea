"""Twilio adapter: parsing recorded and generated requests.

The signatures are in test_twilio_signature.py, the TwiML answers in test_twilio_twiml.py;
shared helpers in twilio_helpers.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from telephony_adapters.base import (
    AdapterConfig,
    Direction,
    EventKind,
    Outcome,
    PayloadError,
)
from telephony_adapters.twilio import agent_from_address
from tests.adapters.twilio_helpers import (
    NOW,
    PARENT_SID,
    TOKEN,
    adapter,
    fixture,
    form_request,
    params_body,
    parse_one,
    twiml,
)

CONFIG = AdapterConfig(secret=TOKEN)

# --- parsing ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        ("queued", EventKind.RINGING),
        ("initiated", EventKind.RINGING),
        ("ringing", EventKind.RINGING),
        ("in-progress", EventKind.ANSWERED),
        ("completed", EventKind.ENDED),
        ("busy", EventKind.MISSED),
        ("no-answer", EventKind.MISSED),
        ("canceled", EventKind.MISSED),
        ("failed", EventKind.MISSED),
    ],
)
def test_call_status_mapping(status: str, kind: EventKind) -> None:
    assert parse_one(form_request(params_body(CallStatus=status))).kind is kind


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("in-progress.txt", EventKind.ANSWERED),
        ("completed.txt", EventKind.ENDED),
        ("no-answer.txt", EventKind.MISSED),
        ("canceled.txt", EventKind.MISSED),
    ],
)
def test_status_callback_fixtures(name: str, kind: EventKind) -> None:
    event = parse_one(form_request(fixture(name)))
    assert (event.call_id, event.kind, event.from_raw) == (PARENT_SID, kind, "+31612345678")
    assert event.answered_by is None
    # Inbound, Twilio answers to run TwiML: that is no person picking up.
    assert event.by_application is (kind is EventKind.ANSWERED)
    assert event.person_answered is (False if kind is EventKind.MISSED else None)


def test_timestamp_is_aware_utc() -> None:
    event = parse_one(form_request(fixture("completed.txt")))
    assert event.occurred_at == datetime(2026, 11, 25, 10, 42, tzinfo=UTC)
    odd = parse_one(form_request(params_body(CallStatus="completed", Timestamp="yesterday")))
    assert odd.occurred_at is None


def test_unknown_status_is_ignored_and_answered() -> None:
    callback = form_request(
        params_body(CallStatus="teleported", CallbackSource="call-progress-events")
    )
    assert adapter.parse(callback, CONFIG, now=NOW) == []
    response = adapter.respond(callback, CONFIG, [], Outcome())
    assert response.status_code == 200
    assert len(twiml(response.body)) == 0  # a status callback's answer is ignored by Twilio
    # Without callback fields Twilio runs what we answer: the caller must stay on the line.
    asking = form_request(params_body(CallStatus="teleported"))
    assert adapter.parse(asking, CONFIG, now=NOW) == []
    assert twiml(adapter.respond(asking, CONFIG, [], Outcome()).body).findtext("Enqueue")


def test_missing_call_sid_is_a_payload_error() -> None:
    with pytest.raises(PayloadError, match='"CallSid" is required'):
        adapter.parse(
            form_request(b"CallStatus=ringing&From=%2B3161"), AdapterConfig(secret=TOKEN), now=NOW
        )


def test_legacy_caller_called_and_directions() -> None:
    body = urlencode(
        {
            "CallSid": "CA" + "5" * 32,
            "CallStatus": "ringing",
            "Caller": "+3161",
            "Called": "+3120",
            "Direction": "outbound-api",
        }
    )
    event = parse_one(form_request(body.encode()))
    assert (event.from_raw, event.to_raw, event.direction) == ("+3161", "+3120", Direction.OUTBOUND)
    assert event.caller_name is None


def test_status_callback_event_takes_precedence() -> None:
    ended = params_body(CallStatus="in-progress", StatusCallbackEvent="completed")
    assert parse_one(form_request(ended)).kind is EventKind.ENDED
    rung = params_body(CallStatus="in-progress", StatusCallbackEvent="ringing")
    assert parse_one(form_request(rung)).kind is EventKind.RINGING
    unanswered = params_body(CallStatus="no-answer", StatusCallbackEvent="completed")
    assert parse_one(form_request(unanswered)).kind is EventKind.MISSED


def test_child_leg_groups_under_parent() -> None:
    answered = parse_one(form_request(fixture("child-answered.txt")))
    assert answered.call_id == PARENT_SID
    assert (answered.kind, answered.answered_by, answered.by_application) == (
        EventKind.ANSWERED,
        "101",
        False,
    )
    assert answered.raw["CallSid"] != PARENT_SID  # the leg's own id stays in raw
    assert answered.direction is Direction.INBOUND
    assert answered.to_raw == "sip:101@pbx.example.org"  # raw, for the number parser
    ringing = parse_one(form_request(fixture("child-ringing-client.txt")))
    assert (ringing.call_id, ringing.kind) == (PARENT_SID, EventKind.RINGING)
    assert (ringing.ringing_extension, ringing.answered_by) == ("alice", None)


def test_unanswered_child_leg_is_not_a_missed_call() -> None:
    assert adapter.parse(form_request(fixture("child-no-answer.txt")), CONFIG, now=NOW) == []
    body = params_body(
        ParentCallSid=PARENT_SID,
        CallStatus="busy",
        StatusCallbackEvent="completed",
        To="client:bob",
    )
    assert adapter.parse(form_request(body), CONFIG, now=NOW) == []


def test_dial_action() -> None:
    answered = parse_one(form_request(fixture("dial-action-completed.txt")))
    assert (answered.call_id, answered.kind, answered.person_answered) == (
        PARENT_SID,
        EventKind.ENDED,
        True,
    )
    assert answered.raw["DialCallDuration"] == "31"
    missed = parse_one(form_request(fixture("dial-action-no-answer.txt")))
    assert (missed.call_id, missed.kind, missed.person_answered) == (
        PARENT_SID,
        EventKind.MISSED,
        False,
    )


@pytest.mark.parametrize(
    ("status", "person_answered"),
    [
        ("completed", True),
        ("answered", True),
        ("no-answer", False),
        ("busy", False),
        ("failed", False),
        ("canceled", False),
    ],
)
def test_dial_call_status(status: str, person_answered: bool) -> None:
    event = parse_one(form_request(params_body(CallStatus="in-progress", DialCallStatus=status)))
    assert event.person_answered is person_answered
    assert event.kind is (EventKind.ENDED if person_answered else EventKind.MISSED)


def test_unknown_dial_call_status_is_ignored() -> None:
    body = params_body(CallStatus="in-progress", DialCallStatus="teleported")
    assert adapter.parse(form_request(body), CONFIG, now=NOW) == []


@pytest.mark.parametrize(
    ("address", "agent"),
    [
        ("client:alice", "alice"),
        ("sip:101@pbx.example.org", "101"),
        ("sips:102@pbx;transport=tls", "102"),
        ("+31201234567", "+31201234567"),
    ],
)
def test_agent_from_address(address: str, agent: str) -> None:
    assert agent_from_address(address) == agent


def test_events_filter_from_config() -> None:
    config = AdapterConfig(secret=TOKEN, events=frozenset({EventKind.ANSWERED, EventKind.ENDED}))
    assert adapter.parse(form_request(fixture("ringing.txt")), config, now=NOW) == []
    assert parse_one(form_request(fixture("completed.txt")), config).kind is EventKind.ENDED
