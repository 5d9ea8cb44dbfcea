"""Twilio adapter: whole calls, in the order Twilio sends their requests.

Inbound: the voice URL (ringing), the dialled leg's reports (initiated, ringing, answered,
completed), the `<Dial action>` request, the number's status callback (completed).
Outbound: a REST-created call's own status callbacks, and an agent's leg to a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

import pytest

from telephony_adapters.base import (
    AdapterConfig,
    CallEvent,
    Direction,
    EventKind,
    NumberStyle,
    Outcome,
)
from tests.adapters.twilio_helpers import (
    NOW,
    PARENT_SID,
    TOKEN,
    adapter,
    fixture_request,
    form_request,
    twiml,
)
from tests.support import vendor_fixtures

DIAL_QUEUE = {"voice_response": "dial", "dial_target": "sip:queue@pbx.example"}
OUTBOUND_SID = "CA2c4e6a8b0d1f3e5a7c9b1d3f5e7a9c0b"


@dataclass(frozen=True)
class Step:
    """What one request of a call became, and what Twilio was told to do next."""

    name: str
    events: list[CallEvent]
    answer: list[str]  # the verbs of the TwiML we answered


def run(names: list[str], options: dict[str, str] = DIAL_QUEUE) -> list[Step]:
    config = AdapterConfig(secret=TOKEN, options=options)
    steps = []
    for name in names:
        request = fixture_request(name)
        events = adapter.parse(request, config, now=NOW)
        body = adapter.respond(request, config, events, Outcome()).body
        steps.append(Step(name, events, [child.tag for child in twiml(body)]))
    return steps


def person_answered(events: list[CallEvent]) -> bool | None:
    """What a consumer can conclude: a person answered, nobody did, or unknown."""
    if any(e.kind is EventKind.ANSWERED and not e.by_application for e in events):
        return True
    finals = [e.person_answered for e in events if e.person_answered is not None]
    return finals[-1] if finals else None


AGENT_ANSWERS = [
    "ringing.txt",
    "child-initiated.txt",
    "child-ringing.txt",
    "child-answered.txt",
    "child-completed.txt",
    "dial-action-completed.txt",
    "completed.txt",
]
NOBODY_ANSWERS = [
    "ringing.txt",
    "child-initiated.txt",
    "child-ringing.txt",
    "child-no-answer.txt",
    "dial-action-no-answer.txt",
    "completed.txt",
]


def test_agent_answers() -> None:
    steps = run(AGENT_ANSWERS)
    events = [event for step in steps for event in step.events]
    assert [(e.kind, e.ringing_extension, e.answered_by, e.person_answered) for e in events] == [
        (EventKind.RINGING, None, None, None),  # the voice URL
        (EventKind.RINGING, "101", None, None),  # leg initiated
        (EventKind.RINGING, "101", None, None),  # leg ringing
        (EventKind.ANSWERED, None, "101", None),  # the agent picked up
        (EventKind.ENDED, None, "101", True),  # the agent's leg is over
        (EventKind.ENDED, None, None, True),  # <Dial action>: DialCallStatus=completed
        (EventKind.ENDED, None, None, None),  # the parent's completed says nothing more
    ]
    assert {e.call_id for e in events} == {PARENT_SID}
    assert all(e.direction is Direction.INBOUND for e in events)
    assert not any(e.by_application for e in events)
    assert EventKind.MISSED not in {e.kind for e in events}
    assert person_answered(events) is True
    assert [step.answer for step in steps] == [["Dial"], [], [], [], [], ["Hangup"], []]


def test_nobody_answers() -> None:
    steps = run(NOBODY_ANSWERS)
    by_name = {step.name: step.events for step in steps}
    assert by_name["child-no-answer.txt"] == []  # one leg ringing out is not the call's end
    [missed] = by_name["dial-action-no-answer.txt"]
    assert (missed.call_id, missed.kind, missed.person_answered) == (
        PARENT_SID,
        EventKind.MISSED,
        False,
    )
    events = [event for step in steps for event in step.events]
    assert EventKind.ANSWERED not in {e.kind for e in events}
    assert person_answered(events) is False
    assert steps[-1].events[0].kind is EventKind.ENDED  # completed, as Twilio reports it


def test_nobody_answers_goes_to_voicemail_when_configured() -> None:
    options = {**DIAL_QUEUE, "redirect_url": "https://app.example/voicemail"}
    steps = run(NOBODY_ANSWERS, options)
    assert [step.answer for step in steps][-2:] == [["Redirect"], []]


def test_pbx_queue_that_answers_first_is_an_application() -> None:
    # A PBX queue picks up the SIP leg before any agent does: that is no person answering.
    steps = run(AGENT_ANSWERS, {**DIAL_QUEUE, "dial_answer": "application"})
    events = [event for step in steps for event in step.events]
    [answered] = [e for e in events if e.kind is EventKind.ANSWERED]
    assert answered.by_application and answered.answered_by == "101"
    assert all(e.person_answered is None for e in events)
    assert person_answered(events) is None


# --- outbound -----------------------------------------------------------------------------


def test_outbound_api_call_is_about_the_person_called() -> None:
    names = ["outbound-api-initiated.txt", "outbound-api-ringing.txt"]
    names += ["outbound-api-answered.txt", "outbound-api-completed.txt"]
    events = [event for step in run(names) for event in step.events]
    assert [(e.kind, e.by_application, e.person_answered) for e in events] == [
        (EventKind.RINGING, False, None),
        (EventKind.RINGING, False, None),
        (EventKind.ANSWERED, False, None),
        (EventKind.ENDED, False, True),
    ]
    for event in events:
        assert (event.call_id, event.direction) == (OUTBOUND_SID, Direction.OUTBOUND)
        assert (event.from_raw, event.to_raw) == ("+31201234567", "+31612345678")
        assert event.ringing_extension is None  # placed from a number, not an agent


def test_cancelled_outbound_call_is_not_a_missed_call() -> None:
    [event] = run(["outbound-api-canceled.txt"])[0].events
    assert (event.kind, event.direction, event.person_answered) == (
        EventKind.ENDED,
        Direction.OUTBOUND,
        False,
    )


def outbound(**fields: str) -> CallEvent:
    """One outbound-api request's event, the fields on top of a REST-created call's."""
    base = {"CallSid": OUTBOUND_SID, "Direction": "outbound-api", "To": "+31612345678"}
    request = form_request(urlencode({**base, **fields}).encode())
    [event] = adapter.parse(request, AdapterConfig(secret=TOKEN), now=NOW)
    return event


def test_outbound_dial_nobody_answered_is_not_a_missed_call() -> None:
    # A REST call whose TwiML dials on: its <Dial action> reports on the outbound call.
    event = outbound(From="+31201234567", CallStatus="in-progress", DialCallStatus="no-answer")
    assert (event.kind, event.direction, event.person_answered) == (
        EventKind.ENDED,
        Direction.OUTBOUND,
        False,
    )


def test_outbound_from_an_agents_client_names_the_agent() -> None:
    ringing = outbound(From="client:alice", CallStatus="ringing")
    assert (ringing.direction, ringing.ringing_extension) == (Direction.OUTBOUND, "alice")
    assert ringing.from_raw == "client:alice"  # raw, for the number parser


def test_answering_machine_is_not_a_person() -> None:
    answered = outbound(From="+31201234567", CallStatus="in-progress", AnsweredBy="machine_start")
    assert answered.by_application
    ended = outbound(From="+31201234567", CallStatus="completed", AnsweredBy="machine_end_beep")
    assert ended.person_answered is False


@pytest.mark.parametrize(
    ("status", "kind", "person"),
    [
        ("ringing", EventKind.RINGING, None),
        ("in-progress", EventKind.ANSWERED, None),
        ("completed", EventKind.ENDED, True),
        ("no-answer", EventKind.ENDED, False),
    ],
)
def test_agent_leg_to_a_number_is_outbound(
    status: str, kind: EventKind, person: bool | None
) -> None:
    fields = {
        "CallSid": "CA" + "7" * 32,
        "ParentCallSid": PARENT_SID,
        "Direction": "outbound-dial",
        "From": "client:alice",
        "To": "+31612345678",
        "CallStatus": status,
        "CallbackSource": "call-progress-events",
    }
    request = form_request(urlencode(fields).encode())
    [event] = adapter.parse(request, AdapterConfig(secret=TOKEN), now=NOW)
    assert (event.call_id, event.kind, event.person_answered) == (PARENT_SID, kind, person)
    assert (event.direction, event.ringing_extension) == (Direction.OUTBOUND, "alice")
    assert event.answered_by is None  # the person called is no agent


def test_agent_calling_agent_is_internal() -> None:
    fields = {
        "CallSid": "CA" + "8" * 32,
        "ParentCallSid": PARENT_SID,
        "From": "client:alice",
        "To": "client:bob",
        "CallStatus": "in-progress",
        "StatusCallbackEvent": "answered",
    }
    [event] = adapter.parse(
        form_request(urlencode(fields).encode()), AdapterConfig(secret=TOKEN), now=NOW
    )
    assert (event.direction, event.answered_by) == (Direction.INTERNAL, "bob")


# --- every fixture ------------------------------------------------------------------------

CALL_FIXTURES = [
    f.path.name for f in vendor_fixtures.all_fixtures("twilio") if b"CallSid=CA5" in f.body
] + [f.path.name for f in vendor_fixtures.all_fixtures("twilio") if b"outbound-api" in f.body]


def test_fixtures_have_provenance() -> None:
    fixtures = vendor_fixtures.all_fixtures("twilio")
    assert {f.authored_by for f in fixtures} == {"vendor", "ours"}
    assert all(f.url and f.content_type for f in fixtures)
    assert len(CALL_FIXTURES) >= 15


@pytest.mark.parametrize("name", CALL_FIXTURES)
def test_every_event_is_e164(name: str) -> None:
    events = adapter.parse(fixture_request(name), AdapterConfig(secret=TOKEN), now=NOW)
    assert events or name == "child-no-answer.txt"
    assert all(event.number_style is NumberStyle.E164 for event in events)
    assert all(event.provider == "twilio" for event in events)
