"""Plivo's half of a call back: the answer URL it fetches once the agent picks up.

Plivo's Call API takes no inline XML (telephony_adapters/originate_plivo.py), so it asks us
what to run; the URL carries the numbers, signed with the tenant's auth token.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from app.api.deps import DbSession
from app.calls.providers import ProviderDirectory
from app.errors import NotFound, Unauthorized, error_responses
from telephony_adapters.base import SignatureError
from telephony_adapters.originate_plivo import ANSWER_PATH, PROVIDER, answer_xml

router = APIRouter(tags=["webhooks"])


PATH = f"/webhooks/{PROVIDER}/{{tenant}}/{ANSWER_PATH}"
SUMMARY = "Plivo XML connecting the caller of a call back (Plivo's answer_url)"
RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/xml": {}}, "description": "Plivo XML <Dial>"},
    **error_responses(401, 404),
}


# Plivo fetches answer URLs by POST (our answer_method) or GET, as the account sets it.
@router.get(
    PATH,
    summary=SUMMARY,
    response_class=Response,
    responses=RESPONSES,
    operation_id="plivo_call_back_answer_get",
)
@router.post(PATH, summary=SUMMARY, response_class=Response, responses=RESPONSES,
             operation_id="plivo_call_back_answer_post")  # fmt: skip
async def plivo_call_back_answer(tenant: str, request: Request, session: DbSession) -> Response:
    """What Plivo runs once the agent answered: `<Dial>` the caller from our line."""
    directory: ProviderDirectory = request.app.state.provider_directory
    found = await directory.find(session, tenant, PROVIDER)
    if found is None or not found.enabled:
        raise NotFound(f"Plivo is not connected to tenant {tenant!r}.")
    try:
        xml = answer_xml(dict(request.query_params), found.config.secret)
    except SignatureError as exc:
        raise Unauthorized(exc.message) from None
    return Response(xml, media_type="application/xml")
