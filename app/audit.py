"""The audit trail: who looked up or changed which contact, when, and through what."""

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
        )
    )
