"""Webhooks that failed again and again with the database up, for an admin to retry or drop.

HTTP in, a receiver call out; the letters themselves live in the durable spool.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from app.api.deps import Admin, DbSession
from app.api.inputs import id_path
from app.calls.receiver import WebhookReceiver
from app.errors import NotFound, error_responses
from app.models import Tenant

router = APIRouter(tags=["providers"])


class DeadLetterOut(BaseModel):
    """A held webhook that kept failing; its body stays on the server (it holds numbers)."""

    id: int
    provider: str
    received_at: datetime
    attempts: int
    error: str | None = Field(description="The last failure, to decide between retry and drop")
    body_bytes: int


async def _slug(session: DbSession, tenant_id: int) -> str:
    tenant = await session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound(f"No tenant {tenant_id}.")
    return tenant.slug


def _receiver(request: Request) -> WebhookReceiver:
    receiver: WebhookReceiver = request.app.state.webhooks
    return receiver


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterOut],
    summary="Webhooks that failed repeatedly",
    responses=error_responses(401, 403),
)
async def list_dead_letters(
    session: DbSession, principal: Admin, request: Request
) -> list[DeadLetterOut]:
    """This tenant's dead letters, oldest first."""
    slug = await _slug(session, principal.tenant_id)
    letters = await asyncio.to_thread(_receiver(request).dead_letters_of, slug)
    return [
        DeadLetterOut(
            id=letter.id,
            provider=letter.provider,
            received_at=letter.received_at,
            attempts=letter.attempts,
            error=letter.error,
            body_bytes=len(letter.body),
        )
        for letter in letters
    ]


@router.post(
    "/dead-letters/{letter_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,
    summary="Try a dead letter again",
    responses=error_responses(401, 403, 404),
)
async def retry_dead_letter(
    session: DbSession,
    principal: Admin,
    request: Request,
    letter_id: Annotated[int, id_path("dead letter")],
) -> Response:
    """Queue it again (after fixing what made it fail); 202 while it is being recorded."""
    slug = await _slug(session, principal.tenant_id)
    if not await _receiver(request).retry_dead_letter(letter_id, slug):
        raise NotFound(f"No dead letter {letter_id} in this tenant.")
    return Response(status_code=status.HTTP_202_ACCEPTED)


@router.delete(
    "/dead-letters/{letter_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Drop a dead letter for good",
    responses=error_responses(401, 403, 404),
)
async def drop_dead_letter(
    session: DbSession,
    principal: Admin,
    request: Request,
    letter_id: Annotated[int, id_path("dead letter")],
) -> Response:
    """Delete it: the event it carried will never be recorded."""
    slug = await _slug(session, principal.tenant_id)
    if not await _receiver(request).drop_dead_letter(letter_id, slug):
        raise NotFound(f"No dead letter {letter_id} in this tenant.")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
