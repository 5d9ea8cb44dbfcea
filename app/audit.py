"""The audit trail: who looked up or changed which contact, when, and through what.

Screen-pops are audited where they are decided, in the same transaction as the call
(app/calls/hot_audit.py on the hot path, `pop_seen` below through the ORM): one row per
agent the pop is sent to, action `pop`, via `screen-pop`, subject the call.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.models import AuditEvent


def record(
    session: AsyncSession,
    *,
    tenant_id: int,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str | int | None = None,
    contact_id: int | None = None,
    number_masked: str | None = None,
    via: str = "api",
    agent_id: int | None = None,
) -> None:
    """Add an audit event to the session; it is written with the request's transaction."""
    session.add(
        AuditEvent(
            tenant_id=tenant_id,
            actor=actor,
            action=action,
            via=via,
            subject_type=subject_type,
            subject_id=None if subject_id is None else str(subject_id),
            contact_id=contact_id,
            number_masked=number_masked,
            agent_id=agent_id,
        )
    )


POP_ACTION = "pop"
POP_VIA = "screen-pop"


def pop_actor(agent_name: str) -> str:
    """How the trail names an agent shown a pop (as `Principal.actor` names a widget)."""
    return f"agent:{agent_name}"


def pop_seen(
    session: AsyncSession,
    *,
    tenant_id: int,
    agent_id: int,
    agent_name: str,
    call_id: int,
    contact_id: int | None,
    number_masked: str | None,
) -> None:
    """Audit one agent being sent a call's pop (who saw whom, when, and why: the call)."""
    record(
        session, tenant_id=tenant_id, actor=pop_actor(agent_name), action=POP_ACTION,
        subject_type="call", subject_id=call_id, contact_id=contact_id,
        number_masked=number_masked, via=POP_VIA, agent_id=agent_id,
    )  # fmt: skip
