"""Survey answers an IVR posts to a webhook: verified like the vendor's call events, then scored.

Twilio's caller is still on the line when the answer arrives: whatever goes wrong (no such
call, a key other than 1-5, the database away) they hear a goodbye, never an error, and the
reason is logged. The generic sender is a script that can read an error, so it gets one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import audit
from app.calls.providers import ProviderDirectory
from app.db import session_scope
from app.errors import Conflict, NotFound
from app.satisfaction import survey
from telephony_adapters.base import AdapterRequest, AdapterResponse
from telephony_adapters.survey_answers import SurveyAnswer, read_survey, survey_response

logger = logging.getLogger(__name__)


class NotConnected(Exception):
    """The tenant has not connected this phone system (or switched it off)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a generic sender's answer was not recorded: an HTTP status and a message."""

    status_code: int
    code: str
    message: str


async def receive_answer(
    sessionmaker: async_sessionmaker[AsyncSession],
    directory: ProviderDirectory,
    provider: str,
    tenant_slug: str,
    request: AdapterRequest,
) -> AdapterResponse | Refusal:
    """Verify and record one answer; SignatureError / PayloadError / NotConnected propagate."""
    # The result is kept and returned after the block: returning inside it would close the
    # session's generator before it commits.
    result: AdapterResponse | Refusal | None = None
    async for session in session_scope(sessionmaker):
        found = await directory.find(session, tenant_slug, provider)
        if found is None or not found.enabled:
            raise NotConnected(
                f"Provider {provider!r} is not connected for tenant {tenant_slug!r}."
            )
        answer = read_survey(provider, request, found.config, now=datetime.now(UTC))
        try:
            await _record(session, found.tenant_id, provider, answer)
            result = survey_response(provider, answer, recorded=answer.score is not None)
        except (NotFound, Conflict) as exc:
            if provider == "generic":
                status = 404 if isinstance(exc, NotFound) else 409
                result = Refusal(status, "not_found" if status == 404 else "conflict", exc.message)
            else:
                logger.warning("survey answer not recorded: %s", exc.message)
                result = survey_response(provider, answer, recorded=False)
    assert result is not None
    return result


async def _record(
    session: AsyncSession, tenant_id: int, provider: str, answer: SurveyAnswer
) -> None:
    if answer.score is None:
        logger.info("survey: the caller pressed %r, not a score 1-5", answer.pressed)
        return
    call_id = await survey.call_by_provider_id(
        session, tenant_id=tenant_id, provider=provider, provider_call_id=answer.provider_call_id
    )
    interaction, changed = await survey.record_score(
        session, tenant_id=tenant_id, call_id=call_id, score=answer.score
    )
    if not changed:
        return
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=f"provider:{provider}",
        action="update",
        subject_type="interaction",
        subject_id=interaction.id,
        contact_id=interaction.contact_id,
        via="webhook",
    )
