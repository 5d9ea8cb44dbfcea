"""Who am I (the widget asks which agent its token speaks for), and an admin's API keys:
issue, list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import BaseModel, Field

from app import audit
from app.api.deps import Admin, DbSession, LookupReader, Paging
from app.api.inputs import id_path
from app.auth.keys import RoleConflict, issue_key, list_keys, revoke_key
from app.auth.revocation import Revoked, announce
from app.auth.schemas import ApiKeyCreate, ApiKeyOut, IssuedApiKey
from app.errors import NotFound, error_responses, invalid_field
from app.models import Agent

router = APIRouter(tags=["agents"])


class Me(BaseModel):
    """The caller of the API: an agent (widget token) or an API key."""

    tenant_id: int
    name: str
    scopes: list[str]
    role: str = Field(description="What this credential may see: agent, supervisor or admin")
    agent_id: int | None
    extension: str | None
    language: str | None


@router.get(
    "/me", response_model=Me, summary="Who this credential is", responses=error_responses(401)
)
async def me(session: DbSession, principal: LookupReader) -> Me:
    """The agent behind a widget token (or the name of an API key)."""
    agent = await session.get(Agent, principal.agent_id) if principal.agent_id else None
    return Me(
        tenant_id=principal.tenant_id,
        name=principal.name,
        scopes=sorted(principal.scopes),
        role=principal.role,
        agent_id=principal.agent_id,
        extension=agent.extension if agent else None,
        language=agent.language if agent else None,
    )


@router.post(
    "/api-keys",
    response_model=IssuedApiKey,
    status_code=status.HTTP_201_CREATED,
    summary="Issue an API key",
    tags=["api-keys"],
    responses=error_responses(401, 403, 422),
)
async def create_api_key(body: ApiKeyCreate, session: DbSession, principal: Admin) -> IssuedApiKey:
    """A new key for this tenant; store it now, it is shown only in this response."""
    try:
        row, key = await issue_key(
            session,
            tenant_id=principal.tenant_id,
            name=body.name,
            scopes=body.scopes,
            role=body.role,
        )
    except RoleConflict as exc:
        raise invalid_field("role", str(exc)) from exc
    audit.record(
        session, tenant_id=principal.tenant_id, actor=principal.actor, action="create",
        subject_type="api_key", subject_id=row.id,
    )  # fmt: skip
    return IssuedApiKey(**ApiKeyOut.of(row).model_dump(), key=key)


@router.get(
    "/api-keys",
    response_model=list[ApiKeyOut],
    summary="The tenant's API keys",
    tags=["api-keys"],
    responses=error_responses(401, 403, 422),
)
async def list_api_keys(session: DbSession, principal: Admin, page: Paging) -> list[ApiKeyOut]:
    """Every key of this tenant by id, revoked ones with `revoked_at`; never a key itself."""
    rows = await list_keys(
        session, tenant_id=principal.tenant_id, limit=page.limit, offset=page.offset
    )
    return [ApiKeyOut.of(row) for row in rows]


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Revoke an API key",
    tags=["api-keys"],
    responses=error_responses(401, 403, 404, 422),
)
async def revoke_api_key(
    key_id: Annotated[int, id_path("API key")],
    request: Request,
    session: DbSession,
    principal: Admin,
) -> None:
    """The key stops working at once: here, and on every server sharing Redis (without
    Redis, other servers trust it at most `STAMGAST_API_KEY_CACHE_SECONDS` more)."""
    row = await revoke_key(session, tenant_id=principal.tenant_id, key_id=key_id)
    if row is None:
        raise NotFound(f"No API key {key_id} in this tenant: see GET /v1/api-keys.")
    audit.record(
        session, tenant_id=principal.tenant_id, actor=principal.actor, action="revoke",
        subject_type="api_key", subject_id=key_id,
    )  # fmt: skip
    await session.commit()  # before it is forgotten: no process may read it back as valid
    await announce(request.app.state.hub, Revoked("api_key", principal.tenant_id, key_id))
