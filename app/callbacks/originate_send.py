"""Which phone system calls a tenant's callers back, and sending it the request.

A cloud vendor can when its config holds the credentials for it (originate_credentials.py);
Asterisk and FreeSWITCH can when their connector runs for the tenant and names where to
dial the callee. Vendor failures all become OriginateRefused (the API's 502).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.callbacks import originate_credentials
from app.connectors.base import ConnectorError, close_tcp, open_tcp, read_some
from app.connectors.config import ConnectorSettings
from app.models import ProviderConfig
from telephony_adapters import (
    originate_ari,
    originate_esl,
    originate_plivo,
    originate_telnyx,
    originate_twilio,
    originate_vonage,
)
from telephony_adapters.freeswitch_esl import EslFrame, EslParser, auth_command
from telephony_adapters.originate import CallBack, OriginateRefused
from telephony_adapters.registry import ORIGINATORS

DEFAULT_BASE_URLS = {
    "plivo": originate_plivo.BASE_URL,
    "twilio": originate_twilio.BASE_URL,
    "telnyx": originate_telnyx.BASE_URL,
    "vonage": originate_vonage.BASE_URL,
}


@dataclass(frozen=True, slots=True)
class PhoneSystem:
    """A phone system able to call back for a tenant, with what it needs to do so."""

    provider: str
    secret: str
    credentials: Mapping[str, str] = field(repr=False)
    base_url: str = ""
    host: str = ""  # FreeSWITCH's event socket
    port: int = 0


async def phone_systems(
    session: AsyncSession,
    *,
    tenant_id: int,
    tenant_slug: str,
    connectors: ConnectorSettings,
    api_urls: Mapping[str, str],
    public_base_url: str | None,
) -> list[PhoneSystem]:
    """Every phone system that can call back for this tenant, by provider name."""
    rows = await session.scalars(
        select(ProviderConfig).where(
            ProviderConfig.tenant_id == tenant_id,
            ProviderConfig.enabled.is_(True),
            ProviderConfig.provider.in_(sorted(DEFAULT_BASE_URLS)),
        )
    )
    found = [
        PhoneSystem(
            provider=row.provider,
            secret=row.secret,
            credentials=credentials | _answer_url(row, tenant_slug, public_base_url),
            base_url=api_urls.get(row.provider) or DEFAULT_BASE_URLS[row.provider],
        )
        for row in rows
        if (credentials := originate_credentials.stored(row))
    ]
    ari = connectors.ari_url and connectors.ari_tenant == tenant_slug
    if ari and connectors.ari_originate_context and connectors.ari_password is not None:
        found.append(
            PhoneSystem(
                provider=originate_ari.PROVIDER,
                secret=connectors.ari_password.get_secret_value(),
                credentials={
                    "username": connectors.ari_user or "",
                    "context": connectors.ari_originate_context,
                    "endpoint": connectors.ari_originate_endpoint,
                },
                base_url=connectors.ari_url or "",
            )
        )
    esl = connectors.esl_host and connectors.esl_tenant == tenant_slug
    if esl and connectors.esl_originate_callee and connectors.esl_password is not None:
        found.append(
            PhoneSystem(
                provider=originate_esl.PROVIDER,
                secret=connectors.esl_password.get_secret_value(),
                credentials={
                    "agent": connectors.esl_originate_agent,
                    "callee": connectors.esl_originate_callee,
                },
                host=connectors.esl_host or "",
                port=connectors.esl_port,
            )
        )
    return sorted(found, key=lambda system: system.provider)


def _answer_url(
    row: ProviderConfig, tenant_slug: str, public_base_url: str | None
) -> dict[str, str]:
    """Plivo fetches the call back's second half from us (originate_plivo.py)."""
    if row.provider != originate_plivo.PROVIDER:
        return {}
    base = originate_credentials.public_base(row, public_base_url)
    return {"answer_url": f"{base}/webhooks/plivo/{tenant_slug}/{originate_plivo.ANSWER_PATH}"}


async def place(system: PhoneSystem, call: CallBack, *, within: float) -> str:
    """Ask the phone system to place the call back; the vendor's id for it."""
    if system.provider == originate_esl.PROVIDER:
        return await _place_over_esl(system, call, within=within)
    originator = ORIGINATORS[system.provider]
    request = originator.request(
        call, secret=system.secret, credentials=system.credentials, base_url=system.base_url
    )
    vendor = system.provider
    import httpx  # at first use: most servers never call back through a cloud vendor

    try:
        async with httpx.AsyncClient(timeout=within, follow_redirects=False) as client:
            response = await client.request(
                request.method, request.url, headers=request.headers, content=request.body
            )
    except httpx.TimeoutException:
        raise OriginateRefused(f"{vendor} did not answer within {within:g}s") from None
    except httpx.HTTPError as exc:
        raise OriginateRefused(f"{vendor} could not be reached: {type(exc).__name__}") from None
    return originator.call_id(response.status_code, response.content)


async def _place_over_esl(system: PhoneSystem, call: CallBack, *, within: float) -> str:
    """auth → +OK → bgapi originate → +OK Job-UUID, on a connection of its own."""
    command = originate_esl.originate_command(call, system.credentials)
    try:
        async with asyncio.timeout(within):
            reader, writer = await open_tcp(system.host, system.port, within)
            try:
                parser, frames = EslParser(), list[EslFrame]()

                async def reply() -> EslFrame:
                    while not frames:
                        frames.extend(parser.feed(await read_some(reader, "mid-command")))
                    return frames.pop(0)

                if (await reply()).content_type != "auth/request":
                    raise OriginateRefused("FreeSWITCH: not an event socket")
                writer.write(auth_command(system.secret))
                if not (await reply()).reply_ok:
                    raise OriginateRefused("FreeSWITCH refused the event socket password")
                writer.write(command)
                await writer.drain()
                return originate_esl.job_id(await reply())
            finally:
                await close_tcp(writer)
    except TimeoutError:
        raise OriginateRefused(f"FreeSWITCH did not answer within {within:g}s") from None
    except ConnectorError as exc:
        raise OriginateRefused(f"FreeSWITCH: {exc}") from None
