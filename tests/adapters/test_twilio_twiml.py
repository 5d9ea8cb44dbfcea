"""Twilio adapter: the TwiML it answers with, and fail-open answers that never raise."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

import pytest

from telephony_adapters.base import AdapterConfig, AdapterRequest, EventKind, Outcome
from tests.adapters.twilio_helpers import (
    FORM,
    NOW,
    TOKEN,
    URL,
    adapter,
    fixture,
    form_request,
    twiml,
)

# --- TwiML --------------------------------------------------------------------------------


def voice(options: Mapping[str, str]) -> ET.Element:
    request = form_request(fixture("ringing.txt"))
    config = AdapterConfig(secret=TOKEN, options=options)
    response = adapter.respond(request, config, adapter.parse(request, config, now=NOW), Outcome())
    assert (response.status_code, response.media_type) == (200, "text/xml")
    return twiml(response.body)


def test_voice_response_empty_by_default() -> None:
    request = form_request(fixture("ringing.txt"))
    body = adapter.respond(request, AdapterConfig(secret=TOKEN), [], Outcome()).body
    assert body == b'<?xml version="1.0" encoding="UTF-8"?><Response/>'
    assert len(voice({"voice_response": "empty"})) == 0


def test_dial_number() -> None:
    root = voice({"voice_response": "dial", "dial_target": "+31201234567"})
    assert root.find("Dial/Number") is not None
    assert root.findtext("Dial/Number") == "+31201234567"


def test_dial_sip_is_escaped() -> None:
    target = "sip:queue@pbx.example.org?X-Tenant=acme&X-Lang=nl"
    request = form_request(fixture("ringing.txt"))
    config = AdapterConfig(secret=TOKEN, options={"voice_response": "dial", "dial_target": target})
    body = adapter.respond(request, config, [], Outcome()).body
    assert b"&amp;X-Lang" in body
    assert twiml(body).findtext("Dial/Sip") == target


def test_dial_client() -> None:
    assert (
        voice({"voice_response": "dial", "dial_target": "client:<alice>"}).findtext("Dial/Client")
        == "<alice>"
    )


def test_voice_response_even_when_ringing_is_filtered_out() -> None:
    request = form_request(fixture("ringing.txt"))
    config = AdapterConfig(
        secret=TOKEN,
        events=frozenset({EventKind.ENDED}),
        options={"voice_response": "dial", "dial_target": "+3120"},
    )
    assert adapter.parse(request, config, now=NOW) == []
    assert (
        twiml(adapter.respond(request, config, [], Outcome()).body).findtext("Dial/Number")
        == "+3120"
    )


@pytest.mark.parametrize(
    "name", ["completed.txt", "child-answered.txt", "dial-action-completed.txt", "in-progress.txt"]
)
def test_callbacks_get_empty_response(name: str) -> None:
    request = form_request(fixture(name))
    config = AdapterConfig(secret=TOKEN, options={"voice_response": "dial", "dial_target": "+3120"})
    events = adapter.parse(request, config, now=NOW)
    assert (
        len(twiml(adapter.respond(request, config, events, Outcome(recognised_name="Ada")).body))
        == 0
    )


@pytest.mark.parametrize(
    "options",
    [
        {"voice_response": "dial"},
        {"voice_response": "dial", "dial_target": "   "},
        {"voice_response": "dial", "dial_target": "+3120\x00"},
        {"voice_response": "sing"},
        None,  # not even a mapping
    ],
)
def test_fail_open_never_raises(options: Any) -> None:
    config = AdapterConfig(secret=TOKEN, options=options)
    for request in (
        form_request(fixture("ringing.txt")),
        AdapterRequest("POST", URL, {"content-type": FORM}, b"\xff\xfe%%%"),
        AdapterRequest("POST", "::not a url::", {}, b""),
    ):
        response = adapter.fail_open(request, config)
        assert response.status_code == 200
        assert len(twiml(response.body)) == 0


def test_fail_open_connects_the_caller() -> None:
    config = AdapterConfig(
        secret=TOKEN, options={"voice_response": "dial", "dial_target": "sip:q@pbx"}
    )
    response = adapter.fail_open(form_request(fixture("ringing.txt")), config)
    assert twiml(response.body).findtext("Dial/Sip") == "sip:q@pbx"
    # A <Dial action> retried into the same Dial would ring the same agents in a loop.
    after_dial = adapter.fail_open(form_request(fixture("dial-action-completed.txt")), config)
    assert len(twiml(after_dial.body)) == 0
