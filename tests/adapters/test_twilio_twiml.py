"""Twilio adapter: the TwiML it answers with, its options, and fail-open answers that never raise.

The dial TwiML is compared with what Twilio's own SDK builds for the same intent.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import pytest
from twilio.twiml.voice_response import Dial, VoiceResponse  # type: ignore[import-untyped]

from telephony_adapters.base import AdapterConfig, AdapterRequest, EventKind, Outcome
from telephony_adapters.twilio import check_options
from tests.adapters.twilio_helpers import (
    FORM,
    NOW,
    TOKEN,
    URL,
    adapter,
    fixture,
    form_request,
    sdk_signature,
    twiml,
)

LEG_EVENTS = "initiated ringing answered completed"


def voice(options: Mapping[str, str], request: AdapterRequest | None = None) -> ET.Element:
    request = request or form_request(fixture("ringing.txt"))
    config = AdapterConfig(secret=TOKEN, options=options)
    response = adapter.respond(request, config, adapter.parse(request, config, now=NOW), Outcome())
    assert (response.status_code, response.media_type) == (200, "text/xml")
    return twiml(response.body)


def sdk_dial(noun: str, target: str) -> ET.Element:
    """What twilio-python's TwiML builder makes for a reported dial back to URL."""
    dial = Dial(action=URL, method="POST")
    method = {"Sip": dial.sip, "Client": dial.client, "Number": dial.number}[noun]
    method(
        target,
        status_callback_event=LEG_EVENTS,
        status_callback=URL,
        status_callback_method="POST",
    )
    return ET.fromstring(str(VoiceResponse().append(dial)))


def same_tree(left: ET.Element, right: ET.Element) -> bool:
    return ET.tostring(left) == ET.tostring(right) or (
        left.tag == right.tag
        and left.attrib == right.attrib
        and (left.text or "") == (right.text or "")
        and len(left) == len(right)
        and all(same_tree(a, b) for a, b in zip(left, right, strict=True))
    )


# --- voice URL: dial, reported ------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "noun", "text"),
    [
        ("sip:queue@pbx.example", "Sip", "sip:queue@pbx.example"),
        ("client:alice", "Client", "alice"),
        ("+31201234567", "Number", "+31201234567"),
    ],
)
def test_dial_asks_for_the_legs_reports_like_the_sdk(target: str, noun: str, text: str) -> None:
    root = voice({"voice_response": "dial", "dial_target": target})
    assert same_tree(root, sdk_dial(noun, text))
    leg = root.find(f"Dial/{noun}")
    assert leg is not None
    assert leg.get("statusCallbackEvent") == LEG_EVENTS
    assert leg.get("statusCallback") == root.find("Dial").get("action") == URL  # type: ignore[union-attr]


def test_readme_setup_dials_with_reports() -> None:
    # Exactly what the README told testers to set, and what used to record answered calls missed.
    root = voice({"voice_response": "dial", "dial_target": "sip:queue@pbx.example"})
    assert root.find("Dial").get("action") == URL  # type: ignore[union-attr]
    assert root.find("Dial/Sip").get("statusCallback") == URL  # type: ignore[union-attr]


def test_reports_go_to_the_public_url_twilio_signs() -> None:
    internal = "http://10.0.0.5:8000/webhooks/twilio/acme"
    request = form_request(fixture("ringing.txt"), url=internal, signed_url=URL)
    options = {"dial_target": "sip:queue@pbx.example"}
    config = AdapterConfig(
        secret=TOKEN, public_base_url="https://stamgast.example.org", options=options
    )
    root = twiml(adapter.respond(request, config, [], Outcome()).body)
    callback_url = root.find("Dial/Sip").get("statusCallback")  # type: ignore[union-attr]
    assert callback_url == URL
    # Twilio signs the leg's report over that URL; it arrives through the proxy and verifies.
    body = fixture("child-answered.txt")
    report = form_request(body, url=internal, signature=sdk_signature(callback_url, body))
    [event] = adapter.parse(report, config, now=NOW)
    assert (event.kind, event.answered_by) == (EventKind.ANSWERED, "101")


def test_get_voice_request_keeps_twilio_fields_out_of_the_report_url() -> None:
    url = f"{URL}?CallSid=CA{'3' * 32}&CallStatus=ringing&From=%2B3161"
    request = AdapterRequest("GET", url, {"x-twilio-signature": sdk_signature(url, b"")}, b"")
    root = voice({"dial_target": "+31201234567"}, request)
    assert root.find("Dial").get("action") == URL  # type: ignore[union-attr]


def test_dial_sip_is_escaped() -> None:
    target = "sip:queue@pbx.example.org?X-Tenant=acme&X-Lang=nl"
    request = form_request(fixture("ringing.txt"))
    config = AdapterConfig(secret=TOKEN, options={"voice_response": "dial", "dial_target": target})
    body = adapter.respond(request, config, [], Outcome()).body
    assert b"&amp;X-Lang" in body
    assert twiml(body).findtext("Dial/Sip") == target


def test_voice_response_even_when_ringing_is_filtered_out() -> None:
    request = form_request(fixture("ringing.txt"))
    config = AdapterConfig(
        secret=TOKEN, events=frozenset({EventKind.ENDED}), options={"dial_target": "+3120"}
    )
    assert adapter.parse(request, config, now=NOW) == []
    assert twiml(adapter.respond(request, config, [], Outcome()).body).findtext("Dial/Number") == (
        "+3120"
    )


# --- voice URL: never a hang-up -----------------------------------------------------------


def test_redirect_hands_the_call_to_the_customers_twiml() -> None:
    root = voice(
        {"voice_response": "redirect", "redirect_url": "https://app.example/voice?x=1&y=2"}
    )
    assert root.findtext("Redirect") == "https://app.example/voice?x=1&y=2"
    assert root.find("Redirect").get("method") == "POST"  # type: ignore[union-attr]


def test_nothing_configured_keeps_the_caller_in_a_queue() -> None:
    assert voice({}).findtext("Enqueue") == "stamgast"
    assert voice({"queue_name": "front desk"}).findtext("Enqueue") == "front desk"


@pytest.mark.parametrize(
    ("options", "verb"),
    [
        ({}, "Enqueue"),
        ({"voice_response": "empty"}, "Enqueue"),
        ({"voice_response": "empty", "dial_target": "+3120"}, "Dial"),
        ({"voice_response": "dial"}, "Enqueue"),
        ({"voice_response": "dial", "dial_target": "   "}, "Enqueue"),
        ({"voice_response": "dial", "dial_target": "+3120\x00"}, "Enqueue"),
        ({"voice_response": "dial", "dial_target": "0612345678"}, "Enqueue"),
        ({"voice_response": "dial", "redirect_url": "https://app.example/v"}, "Redirect"),
        ({"voice_response": "redirect", "redirect_url": "ftp://x"}, "Enqueue"),
        ({"voice_response": "redirect", "dial_target": "client:bob"}, "Dial"),
        ({"voice_response": "sing", "redirect_url": "https://app.example/v"}, "Redirect"),
        ({"voice_response": "enqueue", "dial_target": "client:bob"}, "Enqueue"),
    ],
)
def test_no_option_answers_an_empty_response(options: Mapping[str, str], verb: str) -> None:
    root = voice(options)
    assert [child.tag for child in root] == [verb]


# --- after the dial, and callbacks --------------------------------------------------------


def respond_to(name: str, options: Mapping[str, str]) -> ET.Element:
    request = form_request(fixture(name))
    config = AdapterConfig(secret=TOKEN, options=options)
    events = adapter.parse(request, config, now=NOW)
    return twiml(adapter.respond(request, config, events, Outcome(recognised_name="Ada")).body)


def test_after_an_answered_dial_the_call_ends() -> None:
    options = {"dial_target": "+3120", "redirect_url": "https://app.example/voicemail"}
    assert [c.tag for c in respond_to("dial-action-completed.txt", options)] == ["Hangup"]


def test_after_an_unanswered_dial_the_caller_goes_to_redirect_url() -> None:
    options = {"dial_target": "+3120", "redirect_url": "https://app.example/voicemail"}
    root = respond_to("dial-action-no-answer.txt", options)
    assert root.findtext("Redirect") == "https://app.example/voicemail"
    # With nowhere to go the call ends; ringing the same agents again would only loop.
    assert [c.tag for c in respond_to("dial-action-no-answer.txt", {"dial_target": "+3120"})] == [
        "Hangup"
    ]


@pytest.mark.parametrize(
    "name",
    ["completed.txt", "child-answered.txt", "child-no-answer.txt", "outbound-api-completed.txt"],
)
def test_status_callbacks_get_empty_response(name: str) -> None:
    assert len(respond_to(name, {"dial_target": "+3120"})) == 0


# --- fail open ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"voice_response": "dial"},
        {"voice_response": "dial", "dial_target": "+3120\x00"},
        {"voice_response": "sing"},
        {"dial_target": 42},
        None,  # not even a mapping
    ],
)
def test_fail_open_never_raises_nor_hangs_up(options: Any) -> None:
    config = AdapterConfig(secret=TOKEN, options=options)
    for request in (
        form_request(fixture("ringing.txt")),
        AdapterRequest("POST", URL, {"content-type": FORM}, b"\xff\xfe%%%"),
        AdapterRequest("POST", "::not a url::", {}, b""),
    ):
        response = adapter.fail_open(request, config)
        assert response.status_code == 200
        assert [child.tag for child in twiml(response.body)] == ["Enqueue"]


def test_fail_open_connects_the_caller_with_reports() -> None:
    config = AdapterConfig(
        secret=TOKEN, options={"voice_response": "dial", "dial_target": "sip:q@pbx"}
    )
    root = twiml(adapter.fail_open(form_request(fixture("ringing.txt")), config).body)
    assert root.findtext("Dial/Sip") == "sip:q@pbx"
    assert root.find("Dial/Sip").get("statusCallback") == URL  # type: ignore[union-attr]
    # A <Dial action> answered with the same Dial would ring the same agents in a loop.
    after_dial = adapter.fail_open(form_request(fixture("dial-action-completed.txt")), config)
    assert [c.tag for c in twiml(after_dial.body)] == ["Hangup"]
    callback = adapter.fail_open(form_request(fixture("child-completed.txt")), config)
    assert len(twiml(callback.body)) == 0


# --- check_options ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"voice_response": "dial", "dial_target": "sip:queue@pbx.example"},
        {"dial_target": "client:alice", "dial_answer": "person"},
        {"dial_target": "+31201234567", "redirect_url": "https://app.example/voicemail"},
        {"voice_response": "redirect", "redirect_url": "https://app.example/voice"},
        {"voice_response": "enqueue", "queue_name": "front desk"},
        {"dial_target": "sip:queue@pbx.example", "dial_answer": "application"},
    ],
)
def test_check_options_accepts_working_setups(options: Mapping[str, str]) -> None:
    assert check_options(options) == []


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({}, "wait in the Twilio queue 'stamgast'"),
        ({"voice_response": "empty"}, "an empty <Response/> ends every call"),
        ({"voice_response": "dial"}, "voice_response 'dial' needs dial_target"),
        ({"voice_response": "redirect"}, "voice_response 'redirect' needs redirect_url"),
        ({"voice_response": "sing", "dial_target": "+3120"}, "'sing' is not one of dial"),
        ({"dial_target": "0612345678"}, "'0612345678' is neither an E.164 number"),
        ({"dial_target": "sip:queue"}, "is not a SIP URI"),
        ({"dial_target": "client:"}, "is not a client identity"),
        ({"dial_target": "+3120", "redirect_url": "/voicemail"}, "not an absolute http(s) URL"),
        ({"dial_target": "+3120", "dial_answer": "robot"}, "dial_answer 'robot' is not one of"),
        ({"dial_target": "+3120", "queue_name": "q" * 65}, "queue_name must be at most 64"),
        ({"dial_target": "+3120", "dial_targt": "+3121"}, "unknown option 'dial_targt'"),
        ({"dial_target": 3120}, "option 'dial_target' must be a string"),
    ],
)
def test_check_options_names_the_problem(options: Any, problem: str) -> None:
    problems = check_options(options)
    assert any(problem in found for found in problems), problems
