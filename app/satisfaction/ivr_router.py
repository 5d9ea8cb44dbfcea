"""The IVR survey webhook: HTTP in, `ivr.receive_answer` out."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.api.bodies import read_body
from app.errors import ErrorBody, error_responses
from app.satisfaction import ivr
from telephony_adapters.base import AdapterRequest, PayloadError, SignatureError
from telephony_adapters.survey_answers import SURVEY_PROVIDERS

logger = logging.getLogger(__name__)
router = APIRouter(tags=["webhooks"])
_HANGUP = b'<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>'


def _error(status_code: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ErrorBody(code=code, message=message).model_dump(), status_code)


@router.post(
    "/webhooks/{provider}/{tenant}/survey",
    summary="Receive a caller's post-call survey answer (DTMF 1-5) from an IVR",
    response_class=Response,
    responses={
        200: {"description": "generic: {recorded, score}; twilio: TwiML that hangs up"},
        **error_responses(400, 401, 404, 409, 413, 503),
    },
)
async def receive_survey(provider: str, tenant: str, request: Request) -> Response:
    """Signed like the provider's call events (generic: `X-Stamgast-Signature`; Twilio:
    `X-Twilio-Signature`). Generic body: `{"call_id": "…", "digits": "4"}` or `"score": 4`,
    the call id as in the call's webhooks. Twilio: the `<Gather>` Stamgast answers after an
    answered `<Dial>` when the tenant's Twilio option `survey` is `dtmf` posts here; the
    caller then always hears the call end, whatever was pressed."""
    if provider not in SURVEY_PROVIDERS:
        return _error(
            404, "unknown_provider", f"Survey answers come from {', '.join(SURVEY_PROVIDERS)}."
        )
    state = request.app.state
    limit: int = state.settings.webhook_max_body_bytes
    body = await read_body(request, limit)
    if body is None:
        return _error(413, "body_too_large", f"Webhook bodies are limited to {limit} bytes.")
    adapter_request = AdapterRequest(
        method=request.method,
        url=str(request.url),
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
    )
    try:
        answer = await ivr.receive_answer(
            state.sessionmaker, state.provider_directory, provider, tenant, adapter_request
        )
    except ivr.NotConnected as exc:
        return _error(404, "provider_not_connected", str(exc))
    except SignatureError as exc:
        return _error(401, "bad_signature", exc.message)
    except PayloadError as exc:
        return _error(400, "malformed_body", exc.message)
    except Exception:
        logger.exception("survey answer lost: the database is unavailable")
        if provider == "twilio":  # the caller is on the line: a goodbye, not an error
            return Response(_HANGUP, media_type="text/xml")
        return _error(503, "unavailable", "The database is unavailable; send the answer again.")
    if isinstance(answer, ivr.Refusal):
        return _error(answer.status_code, answer.code, answer.message)
    return Response(answer.body, status_code=answer.status_code, media_type=answer.media_type)
