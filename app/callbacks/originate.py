"""Calling a caller back through the phone system: the agent's phone first, then the caller.

The caller sees the number they called (the line of the missed call), so they know who calls.
A placed call is audited (who called whom back); it is not yet an attempt: how the try went
(reached, no answer, voicemail …) is what the agent records afterwards
(`app/callbacks/attempts.py`, the widget's "Gedaan" / "Geen gehoor"), so a try is counted once
whichever way it was dialled. A vendor failure raises before anything is written.

Exceptions (see app/errors.py)::

    NotFound           404: no such callback request or agent in this tenant
    Conflict           409: closed callback, no number, no phone system or agent phone for it
    InvalidInput       422: the agent or line named is not usable
    PhoneSystemFailed  502: the vendor refused or did not answer; nothing recorded
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import audit
from app.auth.keys import Principal
from app.callbacks.originate_send import PhoneSystem, phone_systems, place
from app.callbacks.service import get_callback
from app.connectors.config import ConnectorSettings
from app.errors import Conflict, StamgastError, invalid_field
from app.models import Agent, Call, CallbackRequest, ContactNumber, Line, Tenant
from app.phone import normalise
from telephony_adapters.originate import AgentPhone, CallBack, NoAgentPhone, OriginateError

CALL_BACK_ACTION = "call_back"
NO_PHONE_SYSTEM = (
    "This tenant's phone system cannot call back from Stamgast: use the tel:/sip: link, or "
    "connect Twilio, Telnyx, Vonage or Plivo with PUT /v1/providers/{provider}/originate, or set "
    "STAMGAST_ARI_ORIGINATE_CONTEXT / STAMGAST_ESL_ORIGINATE_CALLEE for Asterisk / FreeSWITCH."
)


class PhoneSystemFailed(StamgastError):
    """The phone system refused the call back or did not answer (502, the vendor's words)."""

    status_code = 502
    code = "phone_system_failed"


@dataclass(frozen=True, slots=True)
class Placed:
    """A call back the phone system accepted."""

    callback: CallbackRequest
    agent_id: int
    provider: str
    provider_call_id: str


async def available(
    session: AsyncSession,
    *,
    tenant_id: int,
    connectors: ConnectorSettings,
    api_urls: Mapping[str, str],
    public_base_url: str | None,
) -> list[str]:
    """The providers that can call back for this tenant (empty: only tel:/sip: links)."""
    slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    systems = await phone_systems(
        session,
        tenant_id=tenant_id,
        tenant_slug=slug or "",
        connectors=connectors,
        api_urls=api_urls,
        public_base_url=public_base_url,
    )
    return [system.provider for system in systems]


async def call_back(
    session: AsyncSession,
    *,
    principal: Principal,
    callback_id: int,
    agent_id: int | None,
    agent_phone: str | None,
    connectors: ConnectorSettings,
    api_urls: Mapping[str, str],
    public_base_url: str | None,
    within: float,
) -> Placed:
    """Ring the agent, then the callback's caller from the line they called; record it."""
    tenant_id, region = principal.tenant_id, principal.tenant_region
    callback = await get_callback(session, tenant_id=tenant_id, callback_id=callback_id)
    if callback.status != "open":
        raise Conflict(f"Callback request {callback_id} is {callback.status}: reopen it first.")
    agent = await _agent(session, principal, agent_id)
    callee = await _callee(session, callback)
    call = None if callback.call_id is None else await session.get(Call, callback.call_id)
    caller_id = await _line(session, tenant_id=tenant_id, call=call)
    slug = await session.scalar(select(Tenant.slug).where(Tenant.id == tenant_id))
    systems = await phone_systems(
        session, tenant_id=tenant_id, tenant_slug=slug or "", connectors=connectors,
        api_urls=api_urls, public_base_url=public_base_url,
    )  # fmt: skip
    system = _choose(systems, None if call is None else call.provider)
    try:
        request = CallBack(
            agent=_agent_phone(agent, agent_phone, region),
            callee=callee,
            caller_id=caller_id,
            reference=f"callback-{callback.id}",
        )
    except NoAgentPhone as exc:
        raise Conflict(f"Agent {agent.id} cannot be rung: {exc.message}.") from None
    try:
        vendor_call_id = await place(system, request, within=within)
    except NoAgentPhone as exc:
        raise Conflict(f"Agent {agent.id} cannot be rung: {exc.message}.") from None
    except OriginateError as exc:
        raise PhoneSystemFailed(exc.message) from None
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal.actor,
        agent_id=agent.id,
        action=CALL_BACK_ACTION,
        via=system.provider,
        subject_type="callback",
        subject_id=callback.id,
        contact_id=callback.contact_id,
        number_masked=normalise(callee, region).masked,
    )
    return Placed(callback, agent.id, system.provider, vendor_call_id)


async def _agent(session: AsyncSession, principal: Principal, agent_id: int | None) -> Agent:
    """The agent whose phone rings: the widget's own, or the one an API key names."""
    if principal.agent_id is not None and agent_id not in (None, principal.agent_id):
        raise invalid_field("agent_id", "an agent's widget calls back from its own phone only")
    wanted = principal.agent_id or agent_id
    if wanted is None:
        raise invalid_field("agent_id", "name the agent whose phone should ring first")
    agent = await session.scalar(
        select(Agent).where(Agent.tenant_id == principal.tenant_id, Agent.id == wanted)
    )
    if agent is None or not agent.active:
        raise invalid_field("agent_id", f"no active agent {wanted} in this tenant")
    return agent


async def _callee(session: AsyncSession, callback: CallbackRequest) -> str:
    """The number promised a call back, else the contact's first number."""
    if callback.number_e164:
        return callback.number_e164
    if callback.contact_id is not None:
        number = await session.scalar(
            select(ContactNumber.e164)
            .where(ContactNumber.contact_id == callback.contact_id)
            .order_by(ContactNumber.id)
            .limit(1)
        )
        if number:
            return number
    raise Conflict(f"Callback request {callback.id} has no number to call: add one to it.")


async def _line(session: AsyncSession, *, tenant_id: int, call: Call | None) -> str:
    """The number the caller called (their missed call's line), else the tenant's only line."""
    if call is not None and call.to_e164:
        return call.to_e164
    lines = (
        await session.scalars(select(Line.number_e164).where(Line.tenant_id == tenant_id).limit(2))
    ).all()
    if len(lines) != 1:
        raise Conflict(
            "This callback request comes from no call, and the tenant has "
            f"{'no line' if not lines else 'several lines'}: which number would the caller see? "
            "Call back from a missed call's request, or keep one line."
        )
    return lines[0]


def _choose(systems: list[PhoneSystem], provider: str | None) -> PhoneSystem:
    """The phone system the missed call came through, else the first that can call back."""
    if not systems:
        raise Conflict(NO_PHONE_SYSTEM, code="cannot_originate")
    return next((s for s in systems if s.provider == provider), systems[0])


def _agent_phone(agent: Agent, given: str | None, region: str) -> AgentPhone:
    """Where the agent answers: what the request names, else their SIP URI and extension."""
    if given is None:
        return AgentPhone(sip_uri=agent.sip_uri or None, extension=agent.extension or None)
    if given.lower().startswith(("sip:", "sips:")):
        return AgentPhone(sip_uri=given)
    number = normalise(given, region)
    if number.e164 is None:
        raise invalid_field("agent_phone", "give a phone number (+31…, 06…) or a sip: URI")
    return AgentPhone(number=number.e164)
