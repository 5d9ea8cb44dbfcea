"""Calling back through the phone system over HTTP: POST /v1/callbacks/{id}/call, and setup."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi import status as http_status
from pydantic import BaseModel, ConfigDict, Field

from app.api.deps import Admin, ContactsWriter, DbSession, LookupReader
from app.api.inputs import RowId, id_path
from app.callbacks import originate, originate_credentials
from app.connectors.config import ConnectorSettings
from app.errors import error_responses
from app.settings import Settings

router = APIRouter(tags=["callbacks"])

CallbackId = Annotated[int, id_path("callback request")]


class CallBackIn(BaseModel):
    """Whose phone rings first (an API key names the agent; a widget is its own agent)."""

    model_config = ConfigDict(extra="forbid")

    agent_id: RowId | None = Field(default=None, description="The agent (API keys only)")
    agent_phone: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Ring this number or sip: URI instead of the agent's own extension/SIP URI",
    )


class CallBackOut(BaseModel):
    """A call back the phone system accepted: the agent's phone is ringing."""

    callback_id: int
    agent_id: int
    provider: str
    provider_call_id: str = Field(description="The phone system's id for the call")
    attempts: int = Field(
        description="The callback request's attempts so far: this call counts once the agent "
        "records how it went (POST /v1/callbacks/{id}/attempts, or Gedaan)"
    )


class OriginateOut(BaseModel):
    """Whether calling back through the phone system works for this tenant."""

    can_originate: bool
    providers: list[str] = Field(description="Phone systems that can, preferred first")


class OriginateCredentialsIn(BaseModel):
    """Credentials the vendor's API needs beyond the webhook secret (write-only)."""

    model_config = ConfigDict(extra="forbid")

    credentials: dict[str, Annotated[str, Field(max_length=8192)]] = Field(
        # No vendor needs more than two; the bound keeps a hostile body's work small.
        max_length=8,
        examples=[{"account_sid": "AC0123456789abcdef0123456789abcdef"}],
        description="twilio: account_sid; telnyx: api_key, connection_id (TeXML "
        "application); vonage: application_id, private_key (PEM); plivo: auth_id",
    )


class OriginateCredentialsOut(BaseModel):
    """What is stored (names only: the values are never shown again)."""

    provider: str
    stored: list[str]


def _connectors(request: Request) -> ConnectorSettings:
    settings: ConnectorSettings | None = getattr(request.app.state, "connector_settings", None)
    return settings if settings is not None else ConnectorSettings()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


Connectors = Annotated[ConnectorSettings, Depends(_connectors)]
AppSettings = Annotated[Settings, Depends(_settings)]


@router.post(
    "/callbacks/{callback_id}/call",
    response_model=CallBackOut,
    summary="Call back through the phone system: the agent's phone first, then the caller",
    responses=error_responses(401, 403, 404, 409, 422, 502),
)
async def call_back(
    callback_id: CallbackId,
    session: DbSession,
    principal: ContactsWriter,
    connectors: Connectors,
    settings: AppSettings,
    body: CallBackIn | None = None,
) -> CallBackOut:
    """The caller sees the line they called. 409 when the tenant's phone system cannot
    originate (use the tel:/sip: link then); 502 with the vendor's message when it fails,
    and nothing recorded. Success audits who called whom back; the agent then records how
    the try went (`POST /v1/callbacks/{id}/attempts`), which counts it."""
    body = body or CallBackIn()
    placed = await originate.call_back(
        session,
        principal=principal,
        callback_id=callback_id,
        agent_id=body.agent_id,
        agent_phone=body.agent_phone,
        connectors=connectors,
        api_urls=settings.originate_api_urls,
        public_base_url=settings.public_base_url,
        within=settings.originate_timeout_seconds,
    )
    return CallBackOut(
        callback_id=placed.callback.id,
        agent_id=placed.agent_id,
        provider=placed.provider,
        provider_call_id=placed.provider_call_id,
        attempts=placed.callback.attempts,
    )


@router.get(
    "/originate",
    response_model=OriginateOut,
    summary="Whether calling back through the phone system works for this tenant",
    responses=error_responses(401, 403),
)
async def get_originate(
    session: DbSession, principal: LookupReader, connectors: Connectors, settings: AppSettings
) -> OriginateOut:
    """The widget offers its call-back button only when this says yes."""
    providers = await originate.available(
        session,
        tenant_id=principal.tenant_id,
        connectors=connectors,
        api_urls=settings.originate_api_urls,
        public_base_url=settings.public_base_url,
    )
    return OriginateOut(can_originate=bool(providers), providers=providers)


@router.put(
    "/providers/{provider}/originate",
    response_model=OriginateCredentialsOut,
    tags=["providers"],
    summary="Store the credentials a cloud phone system needs to call back",
    responses=error_responses(401, 403, 404, 422),
)
async def put_originate_credentials(
    provider: str,
    body: OriginateCredentialsIn,
    session: DbSession,
    principal: Admin,
    settings: AppSettings,
) -> OriginateCredentialsOut:
    """Checked and stored write-only; the provider must be connected first."""
    stored = await originate_credentials.save(
        session,
        tenant_id=principal.tenant_id,
        provider=provider,
        credentials=body.credentials,
        public_base_url=settings.public_base_url,
    )
    return OriginateCredentialsOut(provider=provider, stored=stored)


@router.delete(
    "/providers/{provider}/originate",
    status_code=http_status.HTTP_204_NO_CONTENT,
    tags=["providers"],
    summary="Forget the credentials for calling back",
    responses=error_responses(401, 403, 404),
)
async def delete_originate_credentials(
    provider: str, session: DbSession, principal: Admin
) -> Response:
    """The phone system stays connected for webhooks; calling back through it stops."""
    await originate_credentials.remove(session, tenant_id=principal.tenant_id, provider=provider)
    return Response(status_code=http_status.HTTP_204_NO_CONTENT)
