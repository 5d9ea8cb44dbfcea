"""A caller's post-call survey through an IVR webhook: Twilio's <Gather> after an answered
<Dial>, and our signed generic format for any other IVR (issue 13, item 4)."""

from __future__ import annotations

import json
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import parse_qsl, urlencode

import httpx
from fastapi import FastAPI
from twilio.twiml.voice_response import Gather, VoiceResponse  # type: ignore[import-untyped]

from app.models import AuditEvent, Interaction
from telephony_adapters.generic import sign_generic
from telephony_adapters.twilio_survey import DEFAULT_PROMPT
from tests.conftest import TenantCtx
from tests.support import vendor_fixtures
from tests.test_webhooks import (
    SECRET,
    TWILIO_TOKEN,
    add_ada,
    connect,
    generic_event,
    post_generic,
    rows,
    twilio_post,
)


def _twiml(text: str) -> list[tuple[str, dict[str, str], str]]:
    """A TwiML document as (tag, attributes, text) in document order: compared, not spelled."""
    return [(e.tag, dict(e.attrib), (e.text or "").strip()) for e in ET.fromstring(text).iter()]


def _hangup() -> str:
    """Twilio's SDK's TwiML for "end the call"."""
    response = VoiceResponse()
    response.hangup()
    return str(response)


async def _twilio(client: httpx.AsyncClient, url: str, params: dict[str, str]) -> httpx.Response:
    answer = await client.post(url, content=urlencode(params), headers=twilio_post(url, params))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/xml")
    return answer


async def test_twilio_asks_answered_callers_for_a_score_and_records_the_key_pressed(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_ada(app, tenant)
    bad = {"dial_target": "sip:queue@pbx.example", "survey": "yes"}
    refused = await api.put("/v1/providers/twilio", json={"secret": TWILIO_TOKEN, "options": bad})
    assert refused.status_code == 422 and "survey 'yes'" in refused.json()["message"]
    options = {"dial_target": "sip:queue@pbx.example", "survey": "dtmf"}
    await connect(api, "twilio", TWILIO_TOKEN, options=options)
    url = f"http://testserver/webhooks/twilio/{tenant.slug}"
    # The caller's own call (the documented fields), answered by an agent, then the dial is over.
    recorded = vendor_fixtures.load("twilio", "gather-survey-digits.txt")
    fields = dict(parse_qsl(recorded.body.decode(), keep_blank_values=True))
    sid = "CA" + uuid.uuid4().hex
    call = {k: v for k, v in fields.items() if k not in ("Digits", "FinishedOnKey")}
    call |= {"CallSid": sid, "CallStatus": "ringing"}
    await _twilio(client, url, call)
    dial_over = call | {"CallStatus": "in-progress", "DialCallStatus": "completed"}
    dial_over |= {"DialCallSid": "CA" + uuid.uuid4().hex, "DialCallDuration": "31"}
    asked = await _twilio(client, url, dial_over)
    # What Twilio's own SDK writes for the same survey: ask once, then hang up.
    expected = VoiceResponse()
    gather = Gather(action=f"{url}/survey", method="POST", num_digits=1, timeout=8)
    gather.say(DEFAULT_PROMPT, language="nl-NL")
    expected.append(gather)
    expected.hangup()
    assert _twiml(asked.text) == _twiml(str(expected))

    [interaction] = await rows(app, Interaction, tenant)  # the call ended with the dial
    assert interaction.survey_score is None
    forged = fields | {"CallSid": sid}
    headers = twilio_post(f"{url}/survey", forged, token="other-token")
    answer = await client.post(f"{url}/survey", content=urlencode(forged), headers=headers)
    assert answer.status_code == 401
    for pressed in ("9", "4", "4"):  # a wrong key, the answer, Twilio's retry
        answer = await _twilio(
            client, f"{url}/survey", fields | {"CallSid": sid, "Digits": pressed}
        )
        assert _twiml(answer.text) == _twiml(_hangup())
    [interaction] = await rows(app, Interaction, tenant)
    assert interaction.survey_score == 4
    audited = [a for a in await rows(app, AuditEvent, tenant) if a.actor == "provider:twilio"]
    assert [a.subject_id for a in audited] == [str(interaction.id)]
    # A call Stamgast never saw: the caller still hears the call end, never an error.
    unknown = fields | {"CallSid": "CA" + uuid.uuid4().hex}
    answer = await _twilio(client, f"{url}/survey", unknown)
    assert "<Hangup" in answer.text


async def test_twilio_without_the_survey_option_hangs_up_after_the_conversation(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await connect(api, "twilio", TWILIO_TOKEN, options={"dial_target": "sip:queue@pbx.example"})
    url = f"http://testserver/webhooks/twilio/{tenant.slug}"
    params = {"CallSid": "CA" + uuid.uuid4().hex, "From": "+31612345678", "To": "+31201234567"}
    params |= {"CallStatus": "in-progress", "DialCallStatus": "completed", "Direction": "inbound"}
    answer = await _twilio(client, url, params)
    assert _twiml(answer.text) == _twiml(_hangup())


async def _survey(client: httpx.AsyncClient, tenant: TenantCtx, body: object) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = sign_generic(SECRET, raw, int(time.time())) | {"Content-Type": "application/json"}
    return await client.post(
        f"/webhooks/generic/{tenant.slug}/survey", content=raw, headers=headers
    )


async def test_any_ivr_sends_the_key_pressed_signed_like_the_generic_call_events(
    app: FastAPI, api: httpx.AsyncClient, client: httpx.AsyncClient, tenant: TenantCtx
) -> None:
    await add_ada(app, tenant)
    await connect(api, "generic", SECRET)
    call_id = uuid.uuid4().hex
    early = await _survey(client, tenant, {"call_id": call_id, "digits": "5"})
    assert early.status_code == 404 and "call id" in early.json()["message"]
    for kind in ("ringing", "answered", "ended"):
        sent = await post_generic(client, tenant, generic_event(call_id, kind, answered_by="201"))
        assert sent.status_code == 200, sent.text
    for body, status, word in (
        ({"call_id": call_id, "digits": "7"}, 400, '"1" to "5"'),
        ({"call_id": call_id, "score": 0}, 400, "1 to 5"),
        ({"digits": "5"}, 400, "call_id"),
        ([1, 2], 400, "JSON object"),
    ):
        refused = await _survey(client, tenant, body)
        assert refused.status_code == status and word in refused.json()["message"], refused.text
    stored = await _survey(client, tenant, {"call_id": call_id, "digits": "5"})
    assert stored.status_code == 200 and stored.json() == {"recorded": True, "score": 5}
    again = await _survey(client, tenant, {"call_id": call_id, "score": 5})
    assert again.status_code == 200
    other = await _survey(client, tenant, {"call_id": call_id, "score": 2})
    assert other.status_code == 409 and "answered once" in other.json()["message"]
    [interaction] = await rows(app, Interaction, tenant)
    assert interaction.survey_score == 5
    raw = json.dumps({"call_id": call_id, "digits": "5"}).encode()
    forged = sign_generic("not-the-secret", raw, int(time.time()))
    answer = await client.post(
        f"/webhooks/generic/{tenant.slug}/survey", content=raw, headers=forged
    )
    assert answer.status_code == 401
    nobody = await client.post("/webhooks/vonage/x/survey", content=b"{}")
    assert nobody.status_code == 404 and "generic, twilio" in nobody.json()["message"]
