"""A caller's post-call survey answer as an IVR sends it: which call, and the key pressed.

Two senders: our signed generic JSON (any IVR or script that can sign like the generic call
events: ``{"call_id": "…", "digits": "4"}`` or ``"score": 4``) and Twilio's ``<Gather>``
(form fields ``CallSid`` and ``Digits``, see `twilio_survey`). The signature is checked
exactly as for the vendor's call events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from telephony_adapters.base import (
    AdapterConfig,
    AdapterRequest,
    AdapterResponse,
    PayloadError,
    parse_json,
)
from telephony_adapters.generic import verify_generic
from telephony_adapters.twilio import verify_twilio

SURVEY_PROVIDERS = ("generic", "twilio")
SCORES = range(1, 6)
_MAX_CALL_ID = 128  # calls.provider_call_id


@dataclass(frozen=True, slots=True)
class SurveyAnswer:
    """The call (as the phone system names it) and the score, None when no key 1-5 was pressed."""

    provider_call_id: str
    score: int | None
    pressed: str


def _score(pressed: str) -> int | None:
    return int(pressed) if pressed in {str(score) for score in SCORES} else None


def _call_id(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > _MAX_CALL_ID:
        raise PayloadError(f'"{name}" must be the call id from the call\'s webhooks')
    return value.strip()


def _generic(request: AdapterRequest) -> SurveyAnswer:
    document = parse_json(request.body)
    if not isinstance(document, dict):
        raise PayloadError('body must be a JSON object like {"call_id": "…", "digits": "4"}')
    call_id = _call_id(document.get("call_id"), "call_id")
    if "score" in document:
        score = document["score"]
        if isinstance(score, bool) or not isinstance(score, int) or score not in SCORES:
            raise PayloadError('"score" must be a whole number from 1 to 5')
        return SurveyAnswer(call_id, score, str(score))
    digits = document.get("digits")
    if not isinstance(digits, str):
        raise PayloadError('send "digits" (the key pressed, "1" to "5") or "score" (1 to 5)')
    score = _score(digits.strip())
    if score is None:
        raise PayloadError(f'"digits" must be one key from "1" to "5", got {digits[:8]!r}')
    return SurveyAnswer(call_id, score, digits.strip())


def _twilio(request: AdapterRequest) -> SurveyAnswer:
    fields = request.form()
    call_sid = _call_id((fields.get("CallSid") or [""])[0], "CallSid")
    pressed = (fields.get("Digits") or [""])[0].strip()
    return SurveyAnswer(call_sid, _score(pressed), pressed[:8])


def read_survey(
    provider: str, request: AdapterRequest, config: AdapterConfig, *, now: datetime
) -> SurveyAnswer:
    """Verify the sender's signature, then read the answer; SignatureError / PayloadError."""
    if provider == "generic":
        verify_generic(request, config.secret, now=now)
        return _generic(request)
    if provider == "twilio":
        verify_twilio(request, config)
        return _twilio(request)
    raise PayloadError(f"provider {provider!r} sends no survey answers here")


def survey_response(provider: str, answer: SurveyAnswer, recorded: bool) -> AdapterResponse:
    """What the sender gets back: Twilio thanks the caller and hangs up; JSON says what we did."""
    if provider == "twilio":
        # Whatever happened to the score, the caller is done: never an error read aloud.
        body = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'
        return AdapterResponse(status_code=200, media_type="text/xml", body=body.encode())
    text = f'{{"recorded": {"true" if recorded else "false"}, "score": {answer.score or "null"}}}'
    return AdapterResponse(status_code=200, media_type="application/json", body=text.encode())
