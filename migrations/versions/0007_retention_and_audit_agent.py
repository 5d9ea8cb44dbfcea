"""retention per tenant, and the agent of an audit event

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10 03:00:00

Four retention periods on the tenant (days; null keeps rows for ever) read by the purge job
(app/retention). Audit events name the agent they concern (a screen-pop's recipient, a
widget's viewer) by id, so GET /v1/audit?agent_id= finds them; indexes for that and for
purging by age.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PERIODS = ("keep_calls_days", "keep_interactions_days", "keep_audit_days")
_PERIODS += ("keep_callbacks_done_days",)


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        for name in _PERIODS:
            batch.add_column(sa.Column(name, sa.Integer(), nullable=True))
    with op.batch_alter_table("audit_events") as batch:
        batch.add_column(sa.Column("agent_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_audit_events_agent_id_agents", "agents", ["agent_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index("ix_audit_events_agent", ["tenant_id", "agent_id"], unique=False)
        batch.create_index("ix_audit_events_at", ["tenant_id", "at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_events") as batch:
        batch.drop_index("ix_audit_events_at")
        batch.drop_index("ix_audit_events_agent")
        batch.drop_constraint("fk_audit_events_agent_id_agents", type_="foreignkey")
        batch.drop_column("agent_id")
    with op.batch_alter_table("tenants") as batch:
        for name in reversed(_PERIODS):
            batch.drop_column(name)
