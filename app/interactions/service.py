"""Interactions: recording contact moments and reading a contact's history."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.api.inputs import require_in_tenant
from app.audit import record
from app.errors import NotFound
from app.interactions.schemas import InteractionCreate
from app.models import Agent, Call, Contact, Interaction, utcnow
from app.subscriptions import events as outbound_events
from app.subscriptions.outbox import emit


async def create_interaction(
    session: AsyncSession, *, tenant_id: int, actor: str, data: InteractionCreate
) -> Interaction:
    """Record a contact moment; the contact, agent and call must be this tenant's."""
    for model, row_id, field in (
        (Contact, data.contact_id, "contact_id"),
        (Agent, data.agent_id, "agent_id"),
        (Call, data.call_id, "call_id"),
    ):
        await require_in_tenant(session, model, tenant_id=tenant_id, row_id=row_id, field=field)
    interaction = Interaction(
        tenant_id=tenant_id,
        **data.model_dump(exclude={"occurred_at"}),
        occurred_at=data.occurred_at or utcnow(),
    )
    session.add(interaction)
    await session.flush()
    await emit(
        session,
        tenant_id=tenant_id,
        type_="interaction.created",
        data={
            "interaction": outbound_events.row_data(interaction, outbound_events.INTERACTION_FIELDS)
        },
    )
    record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="create",
        subject_type="interaction",
        subject_id=interaction.id,
        contact_id=data.contact_id,
    )
    return interaction


async def list_interactions(
    session: AsyncSession, *, tenant_id: int, contact_id: int, limit: int = 50, offset: int = 0
) -> Sequence[Interaction]:
    """A contact's interactions, newest first; NotFound if the contact is not this tenant's."""
    known = await session.scalar(
        select(Contact.id).where(Contact.tenant_id == tenant_id, Contact.id == contact_id)
    )
    if known is None:
        raise NotFound(f"No contact {contact_id} in this tenant.")
    query = (
        select(Interaction)
        .where(Interaction.tenant_id == tenant_id, Interaction.contact_id == contact_id)
        .order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return (await session.scalars(query)).all()
