"""All tables, importable from one place (Alembic reads Base.metadata from here)."""

from app.models.activity import Call, CallbackAttempt, CallbackRequest, Case, Interaction, Notice
from app.models.base import Base, utcnow
from app.models.contacts import Contact, ContactNumber, NumberChoice, ServiceProfile
from app.models.security import ApiKey, AuditEvent
from app.models.sources import LookupSource
from app.models.stats import RingToPopHour
from app.models.subscriptions import DeliveryAttempt, OutboxEvent, Subscription
from app.models.telephony import AgentToken, CallEventRecord, ProviderConfig
from app.models.tenancy import Agent, Line, Team, Tenant, agent_teams

__all__ = [
    "Agent",
    "AgentToken",
    "ApiKey",
    "AuditEvent",
    "Base",
    "Call",
    "CallEventRecord",
    "CallbackAttempt",
    "CallbackRequest",
    "Case",
    "Contact",
    "ContactNumber",
    "DeliveryAttempt",
    "Interaction",
    "Line",
    "LookupSource",
    "Notice",
    "NumberChoice",
    "OutboxEvent",
    "ProviderConfig",
    "RingToPopHour",
    "ServiceProfile",
    "Subscription",
    "Team",
    "Tenant",
    "agent_teams",
    "utcnow",
]
